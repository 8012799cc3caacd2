"""A real two-node ejabberd cluster on 127.0.0.1 (A) and 127.0.0.2 (B), and the component on both nodes.

One cluster for the module (about 7 s to start and join); the failover test stops and restarts A, so it
runs last. Facts behind the expectations: ../shared/EJABBERD.md §6.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from slixmpp import ClientXMPP

from dotimely_chat.component.node_links import ClusterComponent
from dotimely_chat.config import parse_config
from dotimely_chat.servers.ejabberd_accounts import EjabberdAccounts, EjabberdAdminApi
from dotimely_chat.servers.ejabberd_admin_failover import ClusterAdminApi
from dotimely_chat.servers.ejabberd_cluster import EjabberdCluster
from dotimely_chat.servers.ejabberd_process import EjabberdError, _node_pids

from ..support.config import DOMAIN, config_document
from ..support.ejabberd_nodes import running_cluster, ejabberd_config, login, make_contacts

A, B = "ejabberd@127.0.0.1", "ejabberd@127.0.0.2"
MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
MUC_USER = "http://jabber.org/protocol/muc#user"


@pytest.fixture(scope="module")
async def cluster() -> AsyncIterator[EjabberdCluster]:
    async with running_cluster([A, B], "dotimely-ejabberd-cluster--") as nodes:
        yield nodes


@pytest.fixture(scope="module")
async def apis(cluster: EjabberdCluster) -> AsyncIterator[dict[str, EjabberdAdminApi]]:
    found = {node.config.ejabberd.node: EjabberdAdminApi(node.api_url) for node in cluster.nodes}
    yield found
    for api in found.values():
        await api.close()


@pytest.fixture(scope="module")
async def component(cluster: EjabberdCluster) -> AsyncIterator[ClusterComponent]:
    xmpp = ClusterComponent(cluster.config)
    xmpp.start()
    await _until(lambda: all(xmpp.nodes_state().values()), 20, "the component's streams to both nodes")
    yield xmpp
    await xmpp.stop()


async def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.05)


def _first(xmpp: Any, event: str, match: Callable[[Any], bool]) -> asyncio.Future[Any]:
    """The first stanza of `event` for which match(stanza) is true."""
    found: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    xmpp.add_event_handler(event, lambda stanza: match(stanza) and not found.done() and found.set_result(stanza))
    return found


async def _person(cluster: EjabberdCluster, apis: dict[str, EjabberdAdminApi], name: str, node: str
                  ) -> tuple[str, ClientXMPP]:
    """An account made through A's API, logged in on `node` and present."""
    jid = f"{name}@{DOMAIN}"
    await EjabberdAccounts(apis[A]).ensure_account(jid, f"{name}-password")
    client = await login(cluster.node(node), jid, f"{name}-password")
    return jid, client


async def _affiliations(component: ClusterComponent, room: str, items: dict[str, str]) -> None:
    iq = component.make_iq_set(ito=room, ifrom=f"rooms@{component.boundjid.bare}")
    query = ET.SubElement(iq.xml, f"{{{MUC_ADMIN}}}query")
    for jid, affiliation in items.items():
        ET.SubElement(query, f"{{{MUC_ADMIN}}}item", {"jid": jid, "affiliation": affiliation})
    await component.on_link(iq.send(timeout=10), f"affiliations of {room}")


async def _affiliated(component: ClusterComponent, room: str, affiliation: str) -> set[str]:
    """The room's list of `affiliation`, asked by the component's domain (a MUC service admin)."""
    iq = component.make_iq_get(ito=room, ifrom=component.boundjid.bare)
    query = ET.SubElement(iq.xml, f"{{{MUC_ADMIN}}}query")
    ET.SubElement(query, f"{{{MUC_ADMIN}}}item", {"affiliation": affiliation})
    answer = await component.on_link(iq.send(timeout=10), f"{affiliation}s of {room}")
    return {item.get("jid", "") for item in answer.xml.iter(f"{{{MUC_ADMIN}}}item")}


def _join(client: ClientXMPP, room: str, nick: str) -> asyncio.Future[Any]:
    joined = _first(client, "presence", lambda p: p["from"] == f"{room}/{nick}" and p["type"] != "error")
    presence = client.make_presence(pto=f"{room}/{nick}")
    presence.append(ET.Element("{http://jabber.org/protocol/muc}x"))
    presence.send()
    return joined


async def test_the_second_node_joins_the_first_and_shares_the_accounts(
        cluster: EjabberdCluster, apis: dict[str, EjabberdAdminApi]) -> None:
    for node in cluster.nodes:
        assert sorted(await cluster.members(node)) == [A, B]
    _, client = await _person(cluster, apis, "made-on-a", B)  # made through A's API, logged in on B
    client.disconnect()


async def test_a_node_with_another_cookie_is_named_when_it_cannot_join(
        cluster: EjabberdCluster, reachable_dir: Path) -> None:
    """A third node of another state directory (another cookie), on the cluster's ports at 127.0.0.3."""
    document = config_document(reachable_dir / "state", xmpp={"server": "ejabberd"}, ejabberd={})
    for section in ("xmpp", "component", "ejabberd"):
        document[section] = {**document[section], **_ports(cluster, section)}
    document["ejabberd"]["nodes"] = [A, "ejabberd@127.0.0.3"]
    stranger = EjabberdCluster(parse_config(document, reachable_dir))
    outsider = stranger.nodes[1]
    await outsider.start()
    try:
        with pytest.raises(EjabberdError, match=r"node ejabberd@127\.0\.0\.3 could not join ejabberd@127\.0\.0\.1: "
                                                r".*it is down, or it has another Erlang cookie.*no_ping"):
            await stranger.join(outsider)
    finally:
        await outsider.stop()
    assert sorted(await cluster.members(cluster.first)) == [A, B]


async def test_a_node_that_cannot_start_is_named_and_no_node_is_left_behind(reachable_dir: Path) -> None:
    nodes = EjabberdCluster(ejabberd_config(reachable_dir / "state", ["ejabberd@127.0.0.4", "ejabberd@127.0.0.5"]))
    busy = socket.socket()
    busy.bind(("127.0.0.5", nodes.config.xmpp.client_port))
    busy.listen()
    try:
        with pytest.raises(EjabberdError, match=r"ejabberd node ejabberd@127\.0\.0\.5 did not start: port\(s\) "
                                                r"127\.0\.0\.5:\d+ already in use"):
            await nodes.start()
    finally:
        busy.close()
    assert all(node.process is None and _node_pids(node.paths.spool_dir) == [] for node in nodes.nodes)


def _ports(cluster: EjabberdCluster, section: str) -> dict[str, Any]:
    c = cluster.config
    return {"xmpp": {"client_port": c.xmpp.client_port, "http_port": c.xmpp.http_port},
            "component": {"port": c.component.port, "secret": c.component.secret},
            "ejabberd": {"distribution_port": c.ejabberd.distribution_port,
                         "admin_api_port": c.ejabberd.admin_api_port}}[section]


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="dotimely-ejabberd-"))
    os.chmod(folder, 0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


async def test_people_on_two_nodes_message_each_other_and_see_presence(
        cluster: EjabberdCluster, apis: dict[str, EjabberdAdminApi]) -> None:
    owner_jid, owner = await _person(cluster, apis, "owner-on-a", A)
    customer_jid, customer = await _person(cluster, apis, "customer-on-b", B)
    try:
        await make_contacts(apis[A], owner_jid, customer_jid)
        owner_sees = _first(owner, "presence_available", lambda p: p["from"].bare == customer_jid)
        customer_sees = _first(customer, "presence_available", lambda p: p["from"].bare == owner_jid)
        owner.send_presence()
        customer.send_presence()
        await asyncio.wait_for(asyncio.gather(owner_sees, customer_sees), 10)
        heard_b = _first(customer, "message", lambda m: m["body"] == "from A")
        heard_a = _first(owner, "message", lambda m: m["body"] == "from B")
        owner.send_message(mto=customer_jid, mbody="from A", mtype="chat")
        customer.send_message(mto=owner_jid, mbody="from B", mtype="chat")
        await asyncio.wait_for(asyncio.gather(heard_a, heard_b), 10)
    finally:
        owner.disconnect()
        customer.disconnect()


async def test_the_component_hears_people_on_both_nodes_through_one_dispatch(
        cluster: EjabberdCluster, apis: dict[str, EjabberdAdminApi], component: ClusterComponent) -> None:
    """Privileged presence and messages to the component arrive on the stream of the sender's node."""
    on_a, client_a = await _person(cluster, apis, "heard-on-a", A)
    on_b, client_b = await _person(cluster, apis, "heard-on-b", B)
    try:
        from_b_before = component.received_per_node[B]
        presences = {jid: _first(component, "presence_available", lambda p, j=jid: p["from"].bare == j)
                     for jid in (on_a, on_b)}
        message = _first(component, "message", lambda m: m["body"] == "hello component")
        client_a.send_presence()
        client_b.send_presence()
        client_b.send_message(mto=component.boundjid.bare, mbody="hello component", mtype="chat")
        await asyncio.wait_for(asyncio.gather(*presences.values(), message), 10)
        assert component.received_per_node[B] >= from_b_before + 2  # B's presence and message came on B
    finally:
        client_a.disconnect()
        client_b.disconnect()


async def test_a_room_whose_members_sit_on_both_nodes(
        cluster: EjabberdCluster, apis: dict[str, EjabberdAdminApi], component: ClusterComponent) -> None:
    room = f"appt-both@{cluster.config.muc.host}"
    a_jid, on_a = await _person(cluster, apis, "member-on-a", A)
    b_jid, on_b = await _person(cluster, apis, "member-on-b", B)
    try:
        created = _first(component, "presence", lambda p: p["from"] == f"{room}/DoTimely")
        presence = component.make_presence(pto=f"{room}/DoTimely", pfrom=f"rooms@{component.boundjid.bare}")
        presence.append(ET.Element("{http://jabber.org/protocol/muc}x"))
        presence.send()
        codes = {s.get("code") for s in (await asyncio.wait_for(created, 10)).xml.iter(f"{{{MUC_USER}}}status")}
        assert "201" in codes
        await _affiliations(component, room, {a_jid: "member", b_jid: "member"})
        await asyncio.wait_for(asyncio.gather(_join(on_a, room, "A"), _join(on_b, room, "B")), 10)
        heard = {name: _first(client, "message", lambda m, o=other: m["type"] == "groupchat" and m["body"] == f"hi from {o}")
                 for name, client, other in (("a", on_a, "B"), ("b", on_b, "A"))}
        observed = _first(component, "message", lambda m: m["type"] == "groupchat" and m["body"] == "hi from B")
        on_a.send_message(mto=room, mbody="hi from A", mtype="groupchat")
        on_b.send_message(mto=room, mbody="hi from B", mtype="groupchat")
        await asyncio.wait_for(asyncio.gather(*heard.values(), observed), 10)
    finally:
        on_a.disconnect()
        on_b.disconnect()


async def _room_on(apis: dict[str, EjabberdAdminApi], node: str, name: str, member: str) -> str:
    """A room created through `node`'s API, so its process runs on that node, with one member."""
    room = {"name": name, "service": f"rooms.{DOMAIN}"}
    for command, arguments in (
            ("create_room_with_opts", {**room, "host": DOMAIN, "options": [
                {"name": "members_only", "value": "true"}, {"name": "persistent", "value": "true"}]}),
            ("set_room_affiliation", {**room, "jid": member, "affiliation": "member"})):
        status, body = await apis[node].call(command, **arguments)
        assert status == 200, (command, status, body)
    return f"{name}@rooms.{DOMAIN}"


async def test_an_iq_to_a_room_on_b_is_answered_on_b_and_still_reaches_its_caller(
        apis: dict[str, EjabberdAdminApi], component: ClusterComponent) -> None:
    room = await _room_on(apis, B, "runs-on-b", f"listed@{DOMAIN}")
    from_b_before = component.received_per_node[B]
    assert component.home_live  # the IQ leaves on the stream to A
    assert await _affiliated(component, room, "member") == {f"listed@{DOMAIN}"}
    assert component.received_per_node[B] > from_b_before  # ... the answer came on the stream to B


async def test_node_a_stopped_the_component_serves_through_b_and_reattaches_a(
        cluster: EjabberdCluster, apis: dict[str, EjabberdAdminApi], component: ClusterComponent) -> None:
    resyncs: list[float] = []

    async def count() -> None:
        resyncs.append(time.monotonic())

    component.add_resync_step("counted by the failover test", count)
    b_jid, on_b = await _person(cluster, apis, "customer-stays-on-b", B)
    on_b.send_presence()  # available: a chat to the bare JID is delivered, not stored offline
    room = f"appt-both@{cluster.config.muc.host}"  # made through A by the room test
    try:
        connections = component.state.connections
        await cluster.stop_node(A)
        await _until(lambda: not component.nodes_state()[A], 15, "the component noticing A is gone")
        assert component.link_up and component.nodes_state()[B]
        component.require_link("serving through B")  # does not raise
        await _until(lambda: len(resyncs) == 1, 10, "a resynchronisation through B")

        heard = _first(on_b, "message", lambda m: m["body"] == "still here through B")
        component.send_message(mto=b_jid, mbody="still here through B", mtype="chat", mfrom=component.boundjid.bare)
        await asyncio.wait_for(heard, 10)
        both_apis = ClusterAdminApi(cluster.api_urls)  # A's API does not answer: B's does, for the cluster
        try:
            assert await EjabberdAccounts(both_apis).create_account(f"while-a-is-down@{DOMAIN}", "down-password")
        finally:
            await both_apis.close()
        (await login(cluster.node(B), f"while-a-is-down@{DOMAIN}", "down-password")).disconnect()
        room_on_b = await _room_on(apis, B, "made-while-a-is-down", b_jid)
        assert await _affiliated(component, room_on_b, "member") == {b_jid}

        # the room that ran on A goes on from B: a member rejoining restarts it there
        await _affiliations(component, room, {b_jid: "member"})
        await asyncio.wait_for(_join(on_b, room, "B2"), 10)
        echoed = _first(on_b, "message", lambda m: m["type"] == "groupchat" and m["body"] == "A is down")
        on_b.send_message(mto=room, mbody="A is down", mtype="groupchat")
        await asyncio.wait_for(echoed, 10)

        await cluster.start_node(A)
        await _until(lambda: component.nodes_state()[A], 20, "the component re-attaching A")
        assert component.state.connections == connections + 1
        heard = _first(on_b, "message", lambda m: m["body"] == "A is back")
        component.send_message(mto=b_jid, mbody="A is back", mtype="chat", mfrom=component.boundjid.bare)
        await asyncio.wait_for(heard, 10)
        assert sorted(await cluster.members(cluster.node(B))) == [A, B]
    finally:
        on_b.disconnect()
