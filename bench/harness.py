"""What every benchmark starts with: an XMPP server from the generated config (Prosody, one ejabberd node, or
a two-node ejabberd cluster on this machine) and the whole service, on free loopback ports in a temp dir,
stopped again afterwards."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dotimely_chat.app import ChatService  # noqa: E402
from dotimely_chat.component.node_links import ClusterComponent  # noqa: E402
from dotimely_chat.config import Config, parse_config  # noqa: E402
from dotimely_chat.servers.ejabberd_cluster import EjabberdCluster  # noqa: E402
from dotimely_chat.servers.ejabberd_process import EjabberdProcess  # noqa: E402
from dotimely_chat.servers.prosody_process import ProsodyProcess  # noqa: E402
from dotimely_chat.servers.tls import LocalCA  # noqa: E402
from tests.support.config import config_document, free_port  # noqa: E402

SERVERS = ("prosody", "ejabberd")
CLUSTER = "cluster"  # two ejabberd nodes on this machine, the whole service on them
CLUSTER_NODES = ["ejabberd@127.0.0.1", "ejabberd@127.0.0.2"]


def add_server_argument(parser: argparse.ArgumentParser, cluster: bool = False) -> None:
    """--server; with `cluster`, also `cluster` (two ejabberd nodes) and `all` (Prosody, one node, the cluster)."""
    choices = [*SERVERS, "both", *((CLUSTER, "all") if cluster else ())]
    parser.add_argument("--server", choices=choices, default="prosody",
                        help="the XMPP server to measure against (both: Prosody, then one ejabberd node"
                             + ("; cluster: two ejabberd nodes; all: Prosody, one node, then the cluster"
                                if cluster else "") + ")")


def servers_of(choice: str) -> list[str]:
    if choice == "both":
        return list(SERVERS)
    if choice == "all":
        return [*SERVERS, CLUSTER]
    return [choice]


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class BenchServer:
    """The running XMPP server of a benchmark: its kind, its process (Prosody; the node's beam.smp, which
    `erl` execs into, for ejabberd; one per node for a cluster) and the CA its clients trust."""

    kind: str
    process: ProsodyProcess | EjabberdProcess | EjabberdCluster

    @property
    def name(self) -> str:
        return {"prosody": "Prosody", "ejabberd": "ejabberd"}.get(self.kind, "ejabberd cluster")

    @property
    def nodes(self) -> list[ProsodyProcess | EjabberdProcess]:
        """The server's processes: one, or each node of a cluster (the first node first)."""
        if isinstance(self.process, EjabberdCluster):
            return list(self.process.nodes)
        return [self.process]

    @property
    def pids(self) -> list[int]:
        pids = [node.process.pid for node in self.nodes if node.process is not None]
        assert len(pids) == len(self.nodes), "a server process is not running"
        return pids

    @property
    def pid(self) -> int:
        """The one process of a single server (Prosody, one ejabberd node)."""
        (pid,) = self.pids
        return pid

    @property
    def hosts(self) -> list[str]:
        """Where clients connect, per node (a cluster node listens on its own loopback address)."""
        return [node.config.xmpp.client_interfaces[0] for node in self.nodes]

    @property
    def api_urls(self) -> list[str]:
        """ejabberd's admin API, per node (none for Prosody)."""
        return [node.api_url for node in self.nodes if isinstance(node, EjabberdProcess)]

    @property
    def cafile(self) -> Path:
        return LocalCA.in_state(self.process.config.state_directory).certificate

    def cpu(self) -> float:
        return sum(process_cpu(pid) for pid in self.pids)


def bench_config(kind: str, folder: Path, nodes: list[str] | None = None) -> Config:
    """The test config on free ports for `kind`; `nodes`: an ejabberd cluster (the same ports on each node's
    loopback address)."""
    sections: dict[str, dict[str, Any]] = {}
    if kind == "ejabberd":
        sections = {"xmpp": {"server": "ejabberd"},
                    "ejabberd": {"distribution_port": free_port(), "admin_api_port": free_port(),
                                 **({"nodes": nodes} if nodes else {})}}
    return parse_config(config_document(folder / "state", **sections), folder)


def server_process(kind: str, config: Config) -> ProsodyProcess | EjabberdProcess | EjabberdCluster:
    if kind == CLUSTER:
        return EjabberdCluster(config)
    return EjabberdProcess(config) if kind == "ejabberd" else ProsodyProcess(config)


async def wait_every_stream(service: ChatService, timeout: float) -> None:
    """On a cluster: until the component's stream to every node is up (presence and messages of a node's users
    arrive on that node's stream)."""
    component = service.component
    if not isinstance(component, ClusterComponent):
        return
    deadline = time.monotonic() + timeout
    while not all(component.nodes_state().values()):
        assert time.monotonic() < deadline, f"component streams not all up: {component.nodes_state()}"
        await asyncio.sleep(0.1)


@asynccontextmanager
async def running_service(kind: str = "prosody") -> AsyncIterator[tuple[Config, BenchServer, ChatService]]:
    """`kind`: prosody, ejabberd (one node) or cluster (CLUSTER_NODES, the service with one stream per node)."""
    with tempfile.TemporaryDirectory(prefix="dotimely-bench-") as tmp:
        os.chmod(tmp, 0o711)  # the ejabberd user must reach its spool (the node runs as that user when root)
        nodes = CLUSTER_NODES if kind == CLUSTER else None
        config = bench_config("ejabberd" if nodes else kind, Path(tmp), nodes=nodes)
        process = server_process(kind, config)
        await process.start()
        try:
            service = ChatService(config)
            await service.start()
            try:
                assert await service.component.wait_connected(20), service.component.state
                await wait_every_stream(service, 20)
                yield config, BenchServer(kind, process), service
            finally:
                await service.stop()
        finally:
            await process.stop()
