"""ejabberd nodes for tests: configs on free ports, clients logged in on a given node, admin API calls."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from slixmpp import ClientXMPP

from dotimely_chat.config import Config
from dotimely_chat.servers import ejabberd_process
from dotimely_chat.servers.ejabberd_accounts import EjabberdAdminApi
from dotimely_chat.servers.ejabberd_cluster import EjabberdCluster
from dotimely_chat.servers.ejabberd_process import EjabberdProcess, _node_pids
from dotimely_chat.servers.tls import LocalCA

from .config import free_port, make_test_config
from .server_logs import RUNNING_SERVERS


def ejabberd_config(state: Any, nodes: list[str] | None = None, **sections: dict[str, Any]) -> Config:
    """An ejabberd config on free ports; `nodes` makes it a cluster (the same ports on each address)."""
    ejabberd = {"distribution_port": free_port(), "admin_api_port": free_port(), **sections.pop("ejabberd", {})}
    if nodes:
        ejabberd["nodes"] = nodes
    return make_test_config(state, xmpp={"server": "ejabberd", **sections.pop("xmpp", {})}, ejabberd=ejabberd,
                            **sections)


@asynccontextmanager
async def running_cluster(nodes: list[str], prefix: str) -> AsyncIterator[EjabberdCluster]:
    """A started and joined cluster of `nodes` in a temp dir the ejabberd user can traverse; stopped after,
    with no node process left (checked). A failing test shows every node's log."""
    if not Path(ejabberd_process.EJABBERDCTL).exists():
        pytest.fail("ejabberd is not installed: run the tests with ./run.sh test", pytrace=False)
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(folder, 0o711)  # the ejabberd user traverses it
    cluster = EjabberdCluster(ejabberd_config(folder / "state", nodes))
    await cluster.start()
    RUNNING_SERVERS.extend(cluster.nodes)
    try:
        yield cluster
    finally:
        for node in cluster.nodes:
            RUNNING_SERVERS.remove(node)
        await cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    assert all(_node_pids(node.paths.spool_dir) == [] for node in cluster.nodes)


async def login(node: EjabberdProcess, jid: str, password: str, *plugins: str) -> ClientXMPP:
    """A client logged in on `node` (its own address) over STARTTLS, trusting only the demo CA."""
    client = ClientXMPP(jid, password)
    for plugin in plugins:
        client.register_plugin(plugin)
    client.ssl_context = ssl.create_default_context(
        cafile=str(LocalCA.in_state(node.config.state_directory).certificate))
    outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    client.add_event_handler("session_start", lambda _: outcome.done() or outcome.set_result(True))
    client.add_event_handler("failed_auth", lambda _: outcome.done() or outcome.set_result(False))
    client.connect(node.config.xmpp.client_interfaces[0], node.config.xmpp.client_port)
    if not await asyncio.wait_for(outcome, 15):
        client.disconnect()
        raise AssertionError(f"{jid} could not log in on {node.config.ejabberd.node}")
    return client


async def make_contacts(api: EjabberdAdminApi, first: str, second: str) -> None:
    """Two accounts in each other's roster with subscription both (add_rosteritem writes one side only)."""
    for owner, contact in ((first, second), (second, first)):
        (user, host), (other, other_host) = owner.split("@"), contact.split("@")
        status, body = await api.call("add_rosteritem", localuser=user, localhost=host, user=other,
                                      host=other_host, nick=other, group="Contacts", subs="both")
        assert status == 200, (status, body)
