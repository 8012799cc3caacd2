"""Presence and last seen on ejabberd 23.01, where the privileged presence stream is not enough (EJABBERD.md
§1: only what a client itself sends, nothing of who was online before the component connected): the component
is every member's contact (subscription both, servers/ejabberd_rosters.py) and probes them after each
connection (servers/ejabberd_presence.py).

Shows, idle times, statuses and logouts as on Prosody: test_presence.py, marked for both servers. Here what
only ejabberd needs: people online before the component connected, connections cut without a goodbye, and the
roster item staying `both` although users' servers probe the component.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import aiohttp
from slixmpp import ClientXMPP

from dotimely_chat.app import ChatService
from dotimely_chat.servers.ejabberd_process import EjabberdProcess

from ..support.business import Api, make_business
from ..support.clients import ClientFactory
from ..support.ejabberd import EjabberdClientFactory, admin_api_call, ejabberd_test_config, reachable_temp_dir
from ..support.presence import PresenceOf
from ..support.server_logs import RUNNING_SERVERS
from ..support.service import service_on
from ..support.waiting import eventually


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


async def test_people_online_before_the_component_connected_are_online(
        ejabberd_server: EjabberdProcess, ejabberd_clients: ClientFactory, tmp_path: Path) -> None:
    async with service_on(ejabberd_server, tmp_path) as first, aiohttp.ClientSession() as http:
        biz = await make_business(Api(first, http), customers=1, staff=1)
    staff = biz["people"]["staff0"]
    client = await ejabberd_clients.connect(staff["jid"], staff["password"])
    client.send_presence(pshow="dnd", pstatus="With a customer")
    await client.plugin["xep_0199"].ping(ejabberd_server.config.xmpp.domain, timeout=10)

    async with service_on(ejabberd_server, tmp_path) as second, aiohttp.ClientSession() as http:
        answer = await PresenceOf(Api(second, http), biz, "staff0").becomes(online=True, show="dnd")
        assert answer["status"] == "With a customer"
        customer = await PresenceOf(Api(second, http), biz, "customer0").get()
        assert customer["online"] is False


async def test_a_connection_cut_without_goodbye_is_offline_with_last_seen_at_the_cut(
        ejabberd_chat_service: ChatService, ejabberd_api: Api, ejabberd_clients: ClientFactory) -> None:
    """A killed client (TCP abort, no unavailable, no stream close): privileged presence says nothing, the
    contact presence ejabberd makes when the session ends does."""
    biz = await make_business(ejabberd_api, customers=1, staff=1)
    customer = PresenceOf(ejabberd_api, biz, "customer0")
    client = await ejabberd_clients.connect(customer.person["jid"], customer.person["password"])
    client.send_presence(pshow="away", pstatus="Laptop")
    await customer.becomes(online=True, show="away")
    cut = time.time()
    assert client.transport is not None
    client.transport.abort()
    answer = await customer.becomes(online=False)
    assert abs(_epoch(answer["last_seen_at"]) - cut) < 3, (answer, cut)
    assert answer["show"] is None and answer["status"] is None


async def test_the_components_item_stays_both_after_logins(
        ejabberd_server: EjabberdProcess, ejabberd_chat_service: ChatService, ejabberd_api: Api,
        ejabberd_clients: ClientFactory) -> None:
    """A user's login probes the component; slixmpp's default answer (`unsubscribed`) would turn the item
    into `from` and stop presence to us. The link answers with an available presence instead."""
    biz = await make_business(ejabberd_api, customers=1, staff=0)
    owner = biz["people"]["owner"]
    user, domain = owner["jid"].split("@")
    component = ejabberd_chat_service.config.component.jid
    for _ in range(2):
        client = await ejabberd_clients.connect(owner["jid"], owner["password"])
        client.send_presence()
        await PresenceOf(ejabberd_api, biz, "owner").becomes(online=True)
        client.disconnect()
        await PresenceOf(ejabberd_api, biz, "owner").becomes(online=False)
    await asyncio.sleep(0.3)
    roster = admin_api_call(ejabberd_server, "get_roster", user=user, host=domain)
    assert [row["subscription"] for row in roster if row["jid"] == component] == ["both"]


HIBERNATION = 6  # seconds: xmpp.session_hibernation of the node below (mod_stream_mgmt's resume_timeout)


async def _resumable(client: ClientXMPP) -> bool:
    return bool(client.plugin["xep_0198"].sm_id)


async def test_a_resumable_session_cut_without_goodbye_is_offline_after_hibernation_with_last_seen_at_the_cut(
        tmp_path: Path) -> None:
    """Stream management on (the web page, phones): ejabberd keeps the session for the hibernation time, and its
    unavailable then carries no time; get_last tells the end and why (servers/ejabberd_presence.py)."""
    with reachable_temp_dir() as folder:
        node = EjabberdProcess(ejabberd_test_config(folder / "state", xmpp={"session_hibernation": HIBERNATION}))
        await node.start()
        RUNNING_SERVERS.append(node)
        clients = EjabberdClientFactory(node)
        try:
            async with service_on(node, tmp_path) as service, aiohttp.ClientSession() as http:
                api = Api(service, http)
                biz = await make_business(api, customers=1, staff=1)
                staff = PresenceOf(api, biz, "staff0")
                client = await clients.connect(staff.person["jid"], staff.person["password"], "xep_0198")
                await eventually(lambda: _resumable(client), 5)
                client.send_presence(pshow="away", pstatus="Laptop")
                await staff.becomes(online=True, show="away")
                cut = time.time()
                assert client.transport is not None
                client.transport.abort()
                answer = await staff.becomes(timeout=HIBERNATION + 30, online=False)
                assert abs(_epoch(answer["last_seen_at"]) - cut) < 3, (answer, cut, time.time() - cut)
        finally:
            await clients.close()
            RUNNING_SERVERS.remove(node)
            await node.stop()
