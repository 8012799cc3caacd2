"""The XMPP servers the running tests use, so that a failing test shows their logs (tests/conftest.py's
report hook reads this list; fixtures that start a server add it and remove it when they stop it)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ServerPaths(Protocol):
    @property
    def log_file(self) -> Path: ...


class ServerWithLog(Protocol):
    """ProsodyProcess and EjabberdProcess both have these."""

    @property
    def paths(self) -> ServerPaths: ...

    def log_tail(self, lines: int = 60) -> str: ...


RUNNING_SERVERS: list[ServerWithLog] = []
