"""The whole ChatService on a real two-node ejabberd cluster (A = 127.0.0.1, B = 127.0.0.2), as issue 17 item 6
asks: the owner on A and the customer on B, one-to-one and in a room opened through the API, status and
presence recorded, then A stopped in the middle of the conversation and started again.

One cluster and one service for the module; the steps build on each other, so they are one test.
Facts behind the expectations: ../shared/EJABBERD.md §6, component/node_links.py.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slixmpp import JID

from dotimely_chat.app import ChatService
from dotimely_chat.component.node_links import ClusterComponent, room_node
from dotimely_chat.config import load_config
from dotimely_chat.servers.ejabberd_admin_failover import ClusterAdminApi
from dotimely_chat.servers.ejabberd_cluster import EjabberdCluster
from dotimely_chat.servers.ejabberd_process import _node_pids

from ..support.business import Api, make_business
from ..support.config import config_document, free_port
from ..support.ejabberd import reachable_temp_dir
from ..support.ejabberd_nodes import running_cluster, login
from ..support.people import Inbox, from_
from ..support.rooms import book, join, start
from ..support.service import service_on
from ..support.status import Member, by_member, status_of
from ..support.uploads import https_context
from ..support.up import UpProcess, write_config
from ..support.waiting import eventually

log = logging.getLogger(__name__)

A, B = "ejabberd@127.0.0.1", "ejabberd@127.0.0.2"
MUC_USER = "http://jabber.org/protocol/muc#user"


@pytest.fixture(scope="module")
async def cluster() -> AsyncIterator[EjabberdCluster]:
    async with running_cluster([A, B], "dotimely-ejabberd-cluster-service--") as nodes:
        yield nodes


@pytest.fixture(scope="module")
async def service(cluster: EjabberdCluster) -> AsyncIterator[ChatService]:
    """The product as app.py builds it from the cluster's config (its own state: database, keys)."""
    folder = Path(tempfile.mkdtemp(prefix="dotimely-cluster-service-state-"))
    try:
        async with service_on(cluster, folder, connect_timeout=20) as chat:
            yield chat
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _healthy(api: Api) -> bool:
    async with api.http.get(f"{api.base}/healthz") as response:
        return response.status == 200


async def test_the_service_on_two_nodes_serves_people_on_both_and_goes_on_through_b_when_a_stops(
        cluster: EjabberdCluster, service: ChatService) -> None:
    component = service.component
    assert isinstance(component, ClusterComponent), "app.py builds the cluster component for ejabberd.nodes"
    assert isinstance(service.server.rosters.api, ClusterAdminApi)  # type: ignore[attr-defined]
    await eventually(lambda: _true(all(component.nodes_state().values())), 20)
    async with aiohttp.ClientSession() as http:
        api = Api(service, http)
        biz = await make_business(api, customers=1, staff=1)  # accounts and rosters through the cluster API
        owner, customer, staff = (biz["people"][k] for k in ("owner", "customer0", "staff0"))
        owner_a = await login(cluster.node(A), owner["jid"], owner["password"], "xep_0045")
        customer_b = await login(cluster.node(B), customer["jid"], customer["password"], "xep_0045")
        owner_inbox, customer_inbox = Inbox(owner_a), Inbox(customer_b)
        for client in (owner_a, customer_b):
            await client.get_roster(timeout=10)
            client.send_presence()

        # One-to-one across the nodes, both ways.
        owner_a.send_message(mto=customer["jid"], mbody="Hello from A", mtype="chat")
        await customer_inbox.wait_for(from_(owner["jid"], "Hello from A"), 10)
        customer_b.send_message(mto=owner["jid"], mbody="Hello from B", mtype="chat")
        await owner_inbox.wait_for(from_(customer["jid"], "Hello from B"), 10)

        # Presence and last seen of a user on B (the component hears B's users as their contact).
        presence = f"/v1/businesses/{biz['id']}/people/{staff['id']}/presence"
        staff_b = await login(cluster.node(B), staff["jid"], staff["password"])
        staff_b.send_presence()
        await eventually(lambda: _field(api, presence, "online", True), 10)
        staff_b.disconnect()
        await eventually(lambda: _field(api, presence, "online", False), 15)
        assert (await api.call("GET", presence, expect=200))["last_seen_at"] is not None

        # A room opened through the API, its members on both nodes; status recorded.
        room = (await start(api, biz, "customer0", await book(api, biz)))["jid"]
        # Bookmarks of all three members, written at once (concurrent private_sets on a cluster: ejabberd_pep).
        for jid in (owner["jid"], customer["jid"], staff["jid"]):
            await eventually(functools.partial(_bookmarked, service, jid, room), 10)
        await join(owner_a, room, "owner")
        await join(customer_b, room, "customer")
        speaker, reader = Member(customer_b, room), Member(owner_a, room)
        before = await speaker.say("Is 10:00 still fine?")

        async def delivered(stanza: str) -> bool:
            answer = await status_of(api, biz, room, stanza, expect=None)
            return "members" in answer and by_member(answer)[owner["jid"]]["delivered_at"] is not None

        await eventually(lambda: delivered(before), 10)
        reader.mark("displayed", before)
        await eventually(lambda: _read(api, biz, room, before, owner["jid"]), 10)

        # A stops in the middle of the conversation: B goes on, the component serves through B.
        log.warning("test: stopping node A")
        await cluster.stop_node(A)
        await eventually(lambda: _true(not component.home_live and component.link_up), 20)
        await eventually(lambda: _healthy(api), 10)
        async with http.get(f"{api.base}/metrics") as response:
            assert "dotimely_xmpp_link_up 1.0" in await response.text()
        assert (await api.call("GET", presence, expect=200))["last_seen_at"] is not None
        await join(customer_b, room, "customer")  # the room ran on A: it restarts on B
        owner_b = await login(cluster.node(B), owner["jid"], owner["password"], "xep_0045")
        await join(owner_b, room, "owner")
        during = await Member(customer_b, room).say("Still there? A went away")
        await eventually(lambda: delivered(during), 20)
        Member(owner_b, room).mark("displayed", during)
        await eventually(lambda: _read(api, biz, room, during, owner["jid"]), 10)
        # API calls that need the server work through B: a new person (account + rosters).
        await api.call("PUT", f"/v1/businesses/{biz['id']}/people/late-customer",
                       {"role": "customer", "display_name": "Late Customer"}, expect=201)
        # Nothing recorded before the failover is lost.
        assert by_member(await status_of(api, biz, room, before))[owner["jid"]]["read_at"] is not None

        # A back: the home stream re-attaches, the room goes on.
        log.warning("test: starting node A again")
        await cluster.start_node(A)
        await eventually(lambda: _true(component.home_live), 30)
        await eventually(lambda: _healthy(api), 10)
        after = await Member(owner_b, room).say("A is back")
        await eventually(lambda: _customer_delivered(api, biz, room, after, customer["jid"]), 20)
        for client in (owner_a, owner_b, customer_b):
            client.disconnect()


async def test_rooms_are_spread_over_the_nodes_each_running_where_the_component_sends_it(
        cluster: EjabberdCluster, service: ChatService) -> None:
    """Every stanza for a room leaves through the stream of the room's node (node_links.room_node), so the
    room's process starts and runs there: stopping B ends the rooms that ran on B (their occupants are told,
    status 332) and leaves those of A alone; both serve again when B is back."""
    component = service.component
    assert isinstance(component, ClusterComponent)
    await eventually(lambda: _true(all(component.nodes_state().values())), 30)
    async with aiohttp.ClientSession() as http:
        api = Api(service, http)
        biz = await make_business(api, customers=1, staff=1)
        owner = biz["people"]["owner"]
        placed: dict[str, str] = {}
        for _ in range(12):  # about half the rooms fall on each node
            room = (await start(api, biz, "customer0", await book(api, biz)))["jid"]
            placed.setdefault(room_node(room, [A, B]), room)
            if len(placed) == 2:
                break
        on_a, on_b = placed[A], placed[B]
        owner_a = await login(cluster.node(A), owner["jid"], owner["password"], "xep_0045")
        inbox = Inbox(owner_a)
        await join(owner_a, on_a, "owner")
        await join(owner_a, on_b, "owner")
        since = inbox.mark()

        await cluster.stop_node(B)
        shutdown = await inbox.wait_for(lambda p: _left(p, on_b), 20, since)
        assert "332" in [code.get("code") for code in shutdown.xml.iter(f"{{{MUC_USER}}}status")], shutdown
        speaker = Member(owner_a, on_a)
        await speaker.say("A's room goes on")  # its echo: still an occupant, the room still runs
        assert not inbox.matching(lambda p: _left(p, on_a), since), "the room on A ended with B"

        await cluster.start_node(B)
        await eventually(lambda: _true(all(component.nodes_state().values())), 30)
        await join(owner_a, on_b, "owner")  # the room of B runs again (on B, through its stream)
        await Member(owner_a, on_b).say("B's room is back")
        owner_a.disconnect()


async def test_uploads_and_the_export_with_people_on_both_nodes(
        cluster: EjabberdCluster, service: ChatService) -> None:
    """The customer on B takes an upload slot from the component (asked on B's stream, answered on A's) and
    puts a picture; the owner on A fetches it; both talk in the room; the owner's export has what both said,
    the attachment and who read it."""
    component = service.component
    assert isinstance(component, ClusterComponent)
    await eventually(lambda: _true(all(component.nodes_state().values())), 30)
    async with aiohttp.ClientSession() as http:
        api = Api(service, http)
        biz = await make_business(api, customers=1, staff=1)
        owner, customer = biz["people"]["owner"], biz["people"]["customer0"]
        owner_a = await login(cluster.node(A), owner["jid"], owner["password"], "xep_0045")
        customer_b = await login(cluster.node(B), customer["jid"], customer["password"], "xep_0045",
                                 "xep_0363")
        room = (await start(api, biz, "customer0", await book(api, biz)))["jid"]
        await join(owner_a, room, "owner")
        await join(customer_b, room, "customer")

        picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
        slot = await customer_b.plugin["xep_0363"].request_slot(
            JID(service.config.component.jid), "hair.png", len(picture), "image/png", timeout=15)
        url = slot["http_upload_slot"]["put"]["url"]
        headers = {h["name"]: h["value"] for h in slot["http_upload_slot"]["put"]["headers"]}
        tls = https_context(service)
        async with http.put(url, data=picture, headers={**headers, "Content-Type": "image/png"},
                            ssl=tls) as response:
            assert response.status == 201, await response.text()
        async with http.get(url, ssl=tls) as response:
            assert response.status == 200 and await response.read() == picture

        speaker, reader = Member(customer_b, room), Member(owner_a, room)
        said = await speaker.say("Like this one? " + url)
        answer = await reader.say("Lovely, see you at 10")
        reader.mark("displayed", said)
        await eventually(lambda: _read(api, biz, room, said, owner["jid"]), 15)

        async with http.get(f"{api.base}/v1/businesses/{biz['id']}/export", headers=api.headers) as response:
            assert response.status == 200, await response.text()
            records = [json.loads(line) for line in (await response.text()).splitlines()]
        by_id = {r["stanza_id"]: r for r in records if r["type"] == "message"}
        assert by_id[said]["sender"]["jid"] == customer["jid"] and url in by_id[said]["body"]
        assert by_id[answer]["sender"]["jid"] == owner["jid"]
        read = {m["jid"]: m["read_at"] for m in by_id[said]["members"]}
        assert read[owner["jid"]] is not None
        for client in (owner_a, customer_b):
            client.disconnect()


def _left(stanza: Any, room: str) -> bool:
    """Our own occupant's unavailable presence from `room` (the room ended or we were removed)."""
    return (stanza.name == "presence" and stanza["type"] == "unavailable" and stanza["from"].bare == room
            and any(code.get("code") == "110" for code in stanza.xml.iter(f"{{{MUC_USER}}}status")))


async def _bookmarked(service: ChatService, jid: str, room: str) -> bool:
    return room in await service.server.bookmarks.read(jid)  # type: ignore[attr-defined]


async def _true(value: bool) -> bool:
    return value


async def _field(api: Api, path: str, name: str, wanted: object) -> bool:
    return bool((await api.call("GET", path))[name] == wanted)


async def _read(api: Api, biz: dict, room: str, stanza: str, jid: str) -> bool:
    answer = await status_of(api, biz, room, stanza, expect=None)
    return "members" in answer and by_member(answer)[jid]["read_at"] is not None


async def _customer_delivered(api: Api, biz: dict, room: str, stanza: str, jid: str) -> bool:
    answer = await status_of(api, biz, room, stanza, expect=None)
    return "members" in answer and by_member(answer)[jid]["delivered_at"] is not None


async def test_up_with_two_nodes_prints_both_serves_and_ctrl_c_leaves_no_node() -> None:
    """`up` as a person runs it with ejabberd.nodes (beside the module's cluster: the same node names, ports of its own)."""
    with reachable_temp_dir() as folder:
        doc = config_document(folder / "state", xmpp={"server": "ejabberd"},
                              ejabberd={"nodes": [A, B], "distribution_port": free_port(),
                                        "admin_api_port": free_port()})
        config_path = folder / "config.toml"
        write_config(config_path, doc)
        up = UpProcess(config_path)
        cluster = EjabberdCluster(load_config(config_path))
        try:
            banner = await up.start(timeout=120)
            assert f"node {A}" in banner and f"node {B}" in banner, banner
            assert all(len(_node_pids(node.paths.spool_dir)) == 1 for node in cluster.nodes)
            async with aiohttp.ClientSession() as http, \
                    http.get(f"{doc['http']['api_public_url']}/healthz") as response:
                assert response.status == 200, await response.text()
            assert await up.interrupt() == 0, "".join(up.output)
            assert all(_node_pids(node.paths.spool_dir) == [] for node in cluster.nodes), "a node outlived up"
        finally:
            if up.process and up.process.returncode is None:
                up.process.kill()
                await up.process.wait()
            for node in cluster.nodes:
                for pid in _node_pids(node.paths.spool_dir):
                    os.kill(pid, signal.SIGKILL)
