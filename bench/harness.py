"""What every benchmark starts with: an XMPP server from the generated config (Prosody, or one ejabberd node)
and the whole service, on free loopback ports in a temp dir, stopped again afterwards."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dotimely_chat.app import ChatService  # noqa: E402
from dotimely_chat.config import Config, parse_config  # noqa: E402
from dotimely_chat.servers.ejabberd_process import EjabberdProcess  # noqa: E402
from dotimely_chat.servers.prosody_process import ProsodyProcess  # noqa: E402
from dotimely_chat.servers.tls import LocalCA  # noqa: E402
from tests.support.config import config_document, free_port  # noqa: E402

SERVERS = ("prosody", "ejabberd")


def add_server_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", choices=[*SERVERS, "both"], default="prosody",
                        help="the XMPP server to measure against (both: Prosody, then one ejabberd node)")


def servers_of(choice: str) -> list[str]:
    return list(SERVERS) if choice == "both" else [choice]


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class BenchServer:
    """The running XMPP server of a benchmark: its kind, its process (Prosody; the node's beam.smp, which
    `erl` execs into, for ejabberd) and the CA its clients trust."""

    kind: str
    process: ProsodyProcess | EjabberdProcess

    @property
    def name(self) -> str:
        return "Prosody" if self.kind == "prosody" else "ejabberd"

    @property
    def pid(self) -> int:
        assert self.process.process is not None
        return self.process.process.pid

    @property
    def cafile(self) -> Path:
        return LocalCA.in_state(self.process.config.state_directory).certificate

    def cpu(self) -> float:
        return process_cpu(self.pid)


def bench_config(kind: str, folder: Path, nodes: list[str] | None = None) -> Config:
    """The test config on free ports for `kind`; `nodes`: an ejabberd cluster (the same ports on each node's
    loopback address)."""
    sections: dict[str, dict[str, Any]] = {}
    if kind == "ejabberd":
        sections = {"xmpp": {"server": "ejabberd"},
                    "ejabberd": {"distribution_port": free_port(), "admin_api_port": free_port(),
                                 **({"nodes": nodes} if nodes else {})}}
    return parse_config(config_document(folder / "state", **sections), folder)


@asynccontextmanager
async def running_service(kind: str = "prosody") -> AsyncIterator[tuple[Config, BenchServer, ChatService]]:
    with tempfile.TemporaryDirectory(prefix="dotimely-bench-") as tmp:
        os.chmod(tmp, 0o711)  # the ejabberd user must reach its spool (the node runs as that user when root)
        config = bench_config(kind, Path(tmp))
        process = EjabberdProcess(config) if kind == "ejabberd" else ProsodyProcess(config)
        await process.start()
        try:
            service = ChatService(config)
            await service.start()
            try:
                assert await service.component.wait_connected(20), service.component.state
                yield config, BenchServer(kind, process), service
            finally:
                await service.stop()
        finally:
            await process.stop()
