"""Run an ejabberd cluster on one machine: N nodes as our children, joined over Erlang distribution.

Each node is an `EjabberdProcess` with its own config dir, spool and logs (<state>/ejabberd/nodes/<node>),
rendered from a view of our config in which the node listens on its own loopback address with the shared
ports (`node_config`). One node (`ejabberd.nodes = []`) is today's single `EjabberdProcess`.

Facts behind the order of things (ejabberd 23.01, mnesia; ../shared/EJABBERD.md §6):
- Every node of a cluster needs the same Erlang cookie: the first node's is copied to the others before
  they start. With ERL_DIST_PORT each node assumes its peers listen on the same port (no epmd).
- All nodes start at once: a node that was not the last one down waits for its peers' mnesia tables
  before it listens, so starting them one after the other can wait for ever after a failover.
- `join_cluster` (1-2 s) is run on a node that is not yet a member; it restarts ejabberd inside that VM
  (the process stays ours) and copies the first node's tables. A restarted member rejoins by itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Sequence

from ..config import Config
from .ejabberd_config import EjabberdPaths
from .ejabberd_process import EjabberdError, EjabberdProcess, ensure_cookie

log = logging.getLogger(__name__)

JOIN_TIMEOUT_SECONDS = 60.0


def node_config(config: Config, node: str) -> Config:
    """The config one node is rendered and started from: that node's name, and in a cluster every
    listener on the node's own address (clients, web, component, admin API, distribution)."""
    ejabberd = dataclasses.replace(config.ejabberd, node=node)
    if not ejabberd.clustered:
        return dataclasses.replace(config, ejabberd=ejabberd)
    address = ejabberd.distribution_interface
    xmpp = dataclasses.replace(config.xmpp, client_interfaces=(address,), server_host=address)
    return dataclasses.replace(config, ejabberd=ejabberd, xmpp=xmpp)


def share_cookie(paths: Sequence[EjabberdPaths]) -> None:
    """The first node's Erlang cookie in every node's HOME (made once; a different one is replaced)."""
    first, *others = paths
    ensure_cookie(first)
    cookie = first.cookie_file.read_bytes()
    for other in others:
        if other.cookie_file.exists():
            if other.cookie_file.read_bytes() == cookie:
                continue
            log.warning("The Erlang cookie of %s differs from %s: replaced by the cluster's", other.root, first.root)
            other.cookie_file.unlink()
        other.home_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(other.cookie_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as handle:
            handle.write(cookie)


def _members(output: str) -> list[str]:
    """`list_cluster` prints one node per line, quoted as Erlang atoms ('ejabberd@127.0.0.1')."""
    return [line.strip().strip("'") for line in output.splitlines() if "@" in line]


class EjabberdCluster:
    """The nodes of `ejabberd.cluster`, started together, joined to the first, stopped together."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.nodes = [EjabberdProcess(node_config(config, name)) for name in config.ejabberd.cluster]

    @property
    def first(self) -> EjabberdProcess:
        return self.nodes[0]

    @property
    def api_urls(self) -> list[str]:
        """Every node's admin API (for `ClusterAdminApi`), the first node's first."""
        return [n.api_url for n in self.nodes]

    def node(self, name: str) -> EjabberdProcess:
        return next(n for n in self.nodes if n.config.ejabberd.node == name)

    async def start(self, timeout: float = 90.0) -> None:
        """Start every node, join the new ones to the first, wait until the first lists them all."""
        share_cookie([n.paths for n in self.nodes])
        results = await asyncio.gather(*(n.start(timeout) for n in self.nodes), return_exceptions=True)
        failed = [(n, r) for n, r in zip(self.nodes, results, strict=True) if isinstance(r, BaseException)]
        if failed:
            await self.stop()
            for _, error in failed:
                if not isinstance(error, Exception):
                    raise error  # a cancellation
            raise EjabberdError("; ".join(f"ejabberd node {n.config.ejabberd.node} did not start: {r}"
                                          for n, r in failed))
        try:
            for node in self.nodes[1:]:
                await self.join(node)
            await self.wait_members(self.nodes, JOIN_TIMEOUT_SECONDS)
        except BaseException:
            await self.stop()
            raise
        log.info("ejabberd cluster of %s running", ", ".join(self.config.ejabberd.cluster))

    async def members(self, node: EjabberdProcess) -> list[str]:
        """The cluster as `node` sees it."""
        return _members(await asyncio.to_thread(node.ctl, "list_cluster"))

    async def join(self, node: EjabberdProcess) -> None:
        """Make `node` a member of the first node's cluster (nothing to do when it already is)."""
        first = self.first.config.ejabberd.node
        name = node.config.ejabberd.node
        if first in await self.members(node):
            return
        started = time.monotonic()
        try:
            output = await asyncio.to_thread(node.ctl, "join_cluster", first, timeout=JOIN_TIMEOUT_SECONDS)
        except EjabberdError as exc:
            raise EjabberdError(f"ejabberd node {name} could not join {first}: {_join_reason(str(exc), first)}"
                                ) from None
        if "error" in output.lower():
            raise EjabberdError(f"ejabberd node {name} could not join {first}: {_join_reason(output, first)}")
        log.info("ejabberd node %s joined %s in %.1f s", name, first, time.monotonic() - started)

    async def wait_members(self, nodes: Sequence[EjabberdProcess], timeout: float) -> None:
        """Until every running node of `nodes` lists exactly the running nodes of `nodes`."""
        running = [n for n in nodes if n.process is not None]
        wanted = sorted(n.config.ejabberd.node for n in running)
        deadline = time.monotonic() + timeout
        seen: dict[str, list[str]] = {}
        while True:
            seen = {n.config.ejabberd.node: sorted(await self.members(n)) for n in running}
            if all(members == wanted for members in seen.values()):
                return
            if time.monotonic() > deadline:
                raise EjabberdError(f"the ejabberd cluster did not settle within {timeout:.0f} s: wanted {wanted}, "
                                    f"the nodes list {seen}")
            await asyncio.sleep(0.2)

    async def stop_node(self, name: str) -> None:
        """Stop one node (the others go on: rooms that ran there restart on a peer when next used)."""
        await self.node(name).stop()
        await self.wait_members(self.nodes, JOIN_TIMEOUT_SECONDS)

    async def start_node(self, name: str, timeout: float = 90.0) -> None:
        """Start one node again; it rejoins the running members (or joins, if it never was one)."""
        node = self.node(name)
        share_cookie([self.first.paths, node.paths])
        await node.start(timeout)
        if node is not self.first:
            await self.join(node)
        await self.wait_members(self.nodes, JOIN_TIMEOUT_SECONDS)

    async def stop(self) -> None:
        """Stop every node, the first last (it then holds the newest tables); none is left behind."""
        errors: list[BaseException] = []
        for node in reversed(self.nodes):
            try:
                await node.stop()
            except Exception as exc:  # the next node is stopped all the same
                log.error("Stopping ejabberd node %s failed: %s", node.config.ejabberd.node, exc)
                errors.append(exc)
        if errors:
            raise EjabberdError(f"stopping the ejabberd cluster failed: {errors[0]}")


def _join_reason(output: str, first: str) -> str:
    """What `join_cluster` said, with what it means when it only names an Erlang term."""
    text = " ".join(output.split())[:400]
    if "no_ping" in text or "nodedown" in text:
        return (f"{first} did not answer over Erlang distribution: it is down, or it has another Erlang cookie "
                f"({text})")
    return text
