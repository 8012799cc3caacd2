"""Run a local Prosody as a child process: write its config, start it, wait on its ports, stop it.

Used by `dotimely-chat up` and by the test fixtures, from the same renderer the operator runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from ..config import Config
from .child_process import busy_ports, die_with_parent, own_process_group, stop_child, tail, terminate_pid, wait_listening
from .prosody_config import ProsodyPaths, render_prosody_config
from .tls import ensure_server_certificate

log = logging.getLogger(__name__)



class ProsodyError(RuntimeError):
    pass


def _child_setup() -> None:  # runs in the child between fork and exec
    die_with_parent()
    own_process_group()


def prepare_prosody_files(config: Config, paths: ProsodyPaths) -> None:
    """Write the config, make the certificate and set the archive database to WAL (kept by SQLite)."""
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_server_certificate(config)  # <state>/tls, which paths.certificate names
    paths.config_file.write_text(render_prosody_config(config, paths), encoding="utf-8")
    os.chmod(paths.config_file, 0o600)  # it holds the component secret
    # Prosody 0.12 has no option for SQLite pragmas, but WAL set once in the file is kept (FACTS.md).
    with sqlite3.connect(paths.database) as db:
        db.execute("PRAGMA journal_mode=WAL")


def check_prosody_config(paths: ProsodyPaths) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["prosodyctl", "--config", str(paths.config_file), "check", "config"],
                          capture_output=True, text=True)


def _is_our_prosody(pid: int, config_file: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(b"prosody" in part for part in cmdline[:2]) and str(config_file).encode() in cmdline


class ProsodyProcess:
    """One Prosody child process for one state directory."""

    def __init__(self, config: Config, paths: ProsodyPaths | None = None) -> None:
        self.config = config
        self.paths = paths or ProsodyPaths.in_state(config.state_directory)
        self.process: asyncio.subprocess.Process | None = None

    @property
    def ports(self) -> list[tuple[str, int]]:
        host = self.config.xmpp.client_interfaces[0]
        return [(host, self.config.xmpp.client_port), (host, self.config.xmpp.http_port),
                ("127.0.0.1", self.config.component.port)]

    def kill_stale(self) -> None:
        """A Prosody left by an earlier run of this state directory (e.g. after kill -9) is stopped."""
        try:
            pid = int(self.paths.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        if _is_our_prosody(pid, self.paths.config_file):
            log.warning("Stopping a Prosody (pid %d) left behind by an earlier run", pid)
            terminate_pid(pid, grace=5.0)

    async def start(self, timeout: float = 20.0) -> None:
        if shutil.which("prosody") is None:
            raise ProsodyError("the 'prosody' command is missing: install Debian's prosody, prosody-modules "
                               "and lua-dbi-sqlite3 (./run.sh does it)")
        self.kill_stale()
        busy = await busy_ports(self.ports)
        if busy:
            raise ProsodyError(f"port(s) {', '.join(busy)} already in use: another server runs there; "
                               "stop it or change xmpp.client_port, xmpp.http_port or component.port")
        prepare_prosody_files(self.config, self.paths)
        log_handle = open(self.paths.log_file, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.process = await asyncio.create_subprocess_exec(
                "prosody", "-F", "--config", str(self.paths.config_file),
                stdin=subprocess.DEVNULL, stdout=log_handle, stderr=subprocess.STDOUT,
                preexec_fn=_child_setup,
            )
        finally:
            log_handle.close()
        try:
            await wait_listening(
                self.process, self.ports, timeout,
                exited=lambda code: ProsodyError(f"Prosody exited with code {code}:\n{self.log_tail()}"),
                late=lambda pending: ProsodyError(f"Prosody did not listen on {pending} within {timeout:.0f} s:\n"
                                                  f"{self.log_tail()}"))
        except ProsodyError:
            await self.stop()
            raise
        log.info("Prosody (pid %d) listens on %s", self.process.pid,
                 ", ".join(f"{h}:{p}" for h, p in self.ports))

    async def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        await stop_child(process, timeout, "Prosody")

    def log_tail(self, lines: int = 60) -> str:
        text = tail(self.paths.log_file, lines)
        return "(no log)" if text is None else text

    def register(self, username: str, password: str) -> None:
        """Create an account with prosodyctl (local access to the server's files; used by tests)."""
        result = subprocess.run(
            ["prosodyctl", "--config", str(self.paths.config_file), "register", username,
             self.config.xmpp.domain, password], capture_output=True, text=True)
        if result.returncode != 0:
            raise ProsodyError(f"prosodyctl register {username} failed: {result.stdout}{result.stderr}")
