"""Presence as real clients send it (RFC 6121 <show>, XEP-0319 idle, status), read from the status API.

Gajim goes away/xa by itself on idle, Conversations sends dnd/away: every one of them is online. A client that
loses its connection without a goodbye (stream management on, as the web page and phones do) is offline once
its session's hibernation is over, with its last seen at the moment the connection was lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from slixmpp import ClientXMPP

from dotimely_chat.app import ChatService
from dotimely_chat.servers.ejabberd_process import EjabberdProcess
from dotimely_chat.servers.prosody_process import ProsodyProcess

from ..support.business import Api, make_business
from ..support.clients import ClientFactory, clients_for
from ..support.link import not_connected, resynced
from ..support.presence import PresenceOf
from ..support.rooms import join
from ..support.status import Member, by_member, room_with_people, status_of
from ..support.waiting import eventually

IDLE = "{urn:xmpp:idle:1}idle"


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def send_presence(client: ClientXMPP, show: str | None = None, status: str | None = None,
                  idle_since: str | None = None) -> None:
    presence = client.make_presence(pshow=show, pstatus=status)
    if idle_since:
        presence.xml.append(presence.xml.makeelement(IDLE, {"since": idle_since}))
    presence.send()


@pytest.mark.servers("prosody", "ejabberd")
async def test_every_show_is_online_with_its_idle_time_and_status_then_the_logout_is_last_seen(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=1, staff=1)
    staff = PresenceOf(api, biz, "staff0")
    before = await staff.get()
    assert before["online"] is False and before["show"] is None and before["last_seen_at"] is None
    client = await xmpp_clients.connect(staff.person["jid"], staff.person["password"])
    for number, show in enumerate(["away", "xa", "dnd", "chat", None]):
        since = f"2026-11-25T08:0{number}:00Z"
        send_presence(client, show, f"status {show}", since)
        answer = await staff.becomes(online=True, show=show, status=f"status {show}")
        assert answer["idle_since"] is not None and _epoch(answer["idle_since"]) == _epoch(since), answer
    send_presence(client, "away", "Back at 10", "2026-11-25T08:30:00Z")  # Gajim's auto-away, then the logout
    await staff.becomes(online=True, show="away")
    left = time.time()
    client.disconnect()
    answer = await staff.becomes(online=False)
    assert answer["show"] is None and answer["idle_since"] is None and answer["status"] is None
    assert answer["last_seen_at"] is not None and abs(_epoch(answer["last_seen_at"]) - left) < 5


@pytest.mark.servers("prosody", "ejabberd")
async def test_a_client_back_from_away_is_plainly_available_and_not_idle(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=1, staff=1)
    customer = PresenceOf(api, biz, "customer0")
    client = await xmpp_clients.connect(customer.person["jid"], customer.person["password"])
    send_presence(client, "away", "Auto away", "2026-11-25T08:00:00Z")
    await customer.becomes(online=True, show="away", status="Auto away")
    send_presence(client)  # Gajim coming back: a presence with no show, no idle, no status
    answer = await customer.becomes(online=True, show=None)
    assert answer["idle_since"] is None and answer["status"] is None


@pytest.mark.servers("prosody", "ejabberd")
async def test_two_clients_the_most_available_one_counts_and_the_last_one_leaving_sets_last_seen(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=1, staff=1)
    owner = PresenceOf(api, biz, "owner")
    jid, password = owner.person["jid"], owner.person["password"]
    desktop = await xmpp_clients.connect(f"{jid}/desktop", password)
    phone = await xmpp_clients.connect(f"{jid}/phone", password)
    send_presence(desktop, "away", "Idle desktop", "2026-11-25T08:00:00Z")
    send_presence(phone, None, "On the phone")
    answer = await owner.becomes(online=True, show=None, status="On the phone")
    assert answer["idle_since"] is None
    send_presence(phone, "dnd", "With a customer")  # dnd ranks above away
    await owner.becomes(online=True, show="dnd", status="With a customer")
    phone.disconnect()
    answer = await owner.becomes(online=True, show="away", status="Idle desktop")
    assert _epoch(answer["idle_since"]) == _epoch("2026-11-25T08:00:00Z")
    left = time.time()
    desktop.disconnect()
    answer = await owner.becomes(online=False)
    assert abs(_epoch(answer["last_seen_at"]) - left) < 5


@pytest.mark.servers("prosody", "ejabberd")
async def test_people_away_stay_online_across_a_component_reconnection(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    """After a reconnection Prosody re-sends every current presence, away ones too: they are not 'gone'."""
    biz = await make_business(api, customers=1, staff=1)
    staff = PresenceOf(api, biz, "staff0")
    client = await xmpp_clients.connect(staff.person["jid"], staff.person["password"])
    send_presence(client, "xa", "Gone for lunch", "2026-11-25T08:00:00Z")
    await staff.becomes(online=True, show="xa")
    link = chat_service.component
    connections = link.state.connections
    link.disconnect(reason="test: the component goes away")
    await eventually(lambda: not_connected(chat_service), 5)
    await eventually(lambda: resynced(chat_service, connections + 1), 20)
    await asyncio.sleep(2.5)  # the recorder marks people it did not hear from again 2 s after the reconnection
    answer = await staff.get()
    assert answer["online"] is True and answer["show"] == "xa" and answer["status"] == "Gone for lunch"


async def test_a_member_away_in_the_room_has_the_message_delivered_while_online(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    """Rooms: a client in the room counts as online for delivery whatever its show (Gajim's auto-away sends
    the room a presence with <show>away</show>, which changes nothing of who is in)."""
    biz, room, clients = await room_with_people(api, xmpp_clients)
    staff_jid = biz["people"]["staff0"]["jid"]
    await join(clients["customer0"], room, "customer")
    await join(clients["staff0"], room, "staff")
    away = clients["staff0"].make_presence(pto=f"{room}/staff", pshow="away", pstatus="Auto away")
    away.send()
    await asyncio.sleep(0.3)
    stanza = await Member(clients["customer0"], room).say("Are you there?")

    async def delivered() -> bool:
        answer = await status_of(api, biz, room, stanza, expect=None)
        return "members" in answer and by_member(answer)[staff_jid]["delivered_via"] == "online"

    await eventually(delivered, 5.0)


# -------------------------------------------------------------------------------- lost connections
HIBERNATION = 8  # seconds: xmpp.session_hibernation of the server below (default 45)


async def _service_with_hibernation(xmpp_factory: Callable[..., Awaitable[ProsodyProcess | EjabberdProcess]]
                                    ) -> tuple[ProsodyProcess | EjabberdProcess, ChatService]:
    server = await xmpp_factory(xmpp={"session_hibernation": HIBERNATION})
    service = ChatService(server.config)
    await service.start()
    assert await service.component.wait_connected(15)
    return server, service


@pytest.mark.servers("prosody", "ejabberd")
async def test_a_connection_cut_without_goodbye_is_offline_after_hibernation_with_last_seen_at_the_cut(
    xmpp_factory: Callable[..., Awaitable[ProsodyProcess | EjabberdProcess]]
) -> None:
    """Like a closed laptop or a killed browser: stream management on (XEP-0198, resumable), then the TCP
    connection goes away with no unavailable presence and no stream close. The server keeps the session for
    the hibernation time; the unavailable then is stamped with the cut (Prosody: mod_dotimely_presence) or the
    cut is read back from the session's end (ejabberd: get_last minus the hibernation, ejabberd_presence.py)."""
    server, service = await _service_with_hibernation(xmpp_factory)
    clients = clients_for(server)
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(service, http)
            biz = await make_business(api, customers=1, staff=1)
            staff = PresenceOf(api, biz, "staff0")
            client = await clients.connect(staff.person["jid"], staff.person["password"], "xep_0198")
            await eventually(lambda: _resumable(client), 5)
            send_presence(client, "away", "Laptop", "2026-11-25T08:00:00Z")
            await staff.becomes(online=True, show="away")
            cut = time.time()
            assert client.transport is not None
            client.transport.abort()  # no </stream>, no unavailable: the socket just goes
            answer = await staff.becomes(timeout=HIBERNATION + 30, online=False)
            # the session hibernated for HIBERNATION seconds; last seen is the cut, not the end of hibernation
            assert abs(_epoch(answer["last_seen_at"]) - cut) < 3, (answer, cut)
            assert answer["show"] is None and answer["idle_since"] is None
    finally:
        await clients.close()
        await service.stop()


@pytest.mark.servers("prosody", "ejabberd")
async def test_a_client_cannot_date_its_own_last_seen(
    xmpp_factory: Callable[..., Awaitable[ProsodyProcess | EjabberdProcess]]
) -> None:
    """A <delay> a client puts into its own unavailable presence, even naming the server, is not believed (our
    mod_dotimely_presence removes it on either server)."""
    server, service = await _service_with_hibernation(xmpp_factory)
    clients = clients_for(server)
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(service, http)
            biz = await make_business(api, customers=1, staff=1)
            customer = PresenceOf(api, biz, "customer0")
            client = await clients.connect(customer.person["jid"], customer.person["password"])
            send_presence(client)
            await customer.becomes(online=True)
            forged = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
            presence = client.make_presence(ptype="unavailable")
            presence.xml.append(presence.xml.makeelement(
                "{urn:xmpp:delay}delay", {"from": server.config.xmpp.domain,
                                          "stamp": forged.strftime("%Y-%m-%dT%H:%M:%SZ")}))
            left = time.time()
            presence.send()
            answer = await customer.becomes(online=False)
            assert abs(_epoch(answer["last_seen_at"]) - left) < 5, (answer, left)
    finally:
        await clients.close()
        await service.stop()


async def _resumable(client: ClientXMPP) -> bool:
    return bool(client.plugin["xep_0198"].sm_id)


@pytest.mark.servers("prosody", "ejabberd")
async def test_a_push_enabled_phone_that_sleeps_is_shown_gone_keeps_its_session_and_is_back_when_it_resumes(
    xmpp_factory: Callable[..., Awaitable[ProsodyProcess | EjabberdProcess]]
) -> None:
    """Like Monal or Conversations with push (XEP-0357): the app goes to sleep, its connection goes. The server
    keeps a push-enabled session far longer (Prosody: mod_cloud_notify, ejabberd: mod_push_keepalive; 72 h, for
    the pushes and the rooms), but the person is shown gone after the hibernation time, to the API and to their
    contacts, and back when the app resumes (mod_dotimely_presence on either server)."""
    server, service = await _service_with_hibernation(xmpp_factory)
    clients = clients_for(server)
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(service, http)
            biz = await make_business(api, customers=1, staff=1)
            customer = PresenceOf(api, biz, "customer0")
            owner = biz["people"]["owner"]
            watcher = await clients.connect(owner["jid"], owner["password"])  # the owner, in Gajim
            heard: asyncio.Queue[Any] = asyncio.Queue()
            watcher.add_event_handler("presence", lambda p: p["from"].bare == customer.person["jid"]
                                      and p["from"].resource and heard.put_nowait(p))
            send_presence(watcher)
            phone = await clients.connect(customer.person["jid"], customer.person["password"], "xep_0198")
            await eventually(lambda: _resumable(phone), 5)
            enable = phone.make_iq_set()
            enable.xml.append(enable.xml.makeelement("{urn:xmpp:push:0}enable",
                                                     {"jid": f"push.{server.config.xmpp.domain}", "node": "n1"}))
            await enable.send(timeout=10)
            send_presence(phone, None, "On my phone")
            await customer.becomes(online=True, status="On my phone")
            assert (await asyncio.wait_for(heard.get(), 10))["type"] == "available"

            cut = time.time()
            assert phone.transport is not None
            phone.transport.abort()  # the app sleeps: no goodbye
            answer = await customer.becomes(timeout=HIBERNATION + 30, online=False)
            assert abs(_epoch(answer["last_seen_at"]) - cut) < 3, (answer, cut)
            gone = await asyncio.wait_for(heard.get(), 30)
            assert gone["type"] == "unavailable", "the owner's client sees the customer go"

            # The component reconnects: Prosody re-sends every kept session's presence, the sleeping one too;
            # ejabberd answers the component's probes, the sleeping session with its unavailable.
            connections = service.component.state.connections
            service.component.disconnect(reason="test: the component goes away")
            await eventually(lambda: not_connected(service), 5)
            await eventually(lambda: resynced(service, connections + 1), 20)
            await asyncio.sleep(2.5)  # the recorder's settling time after a reconnection
            answer = await customer.get()
            assert answer["online"] is False and abs(_epoch(answer["last_seen_at"]) - cut) < 3, (answer, cut)

            # Woken (by a push), the app resumes its session: nothing to log in again, and it is back.
            resumed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            phone.add_event_handler("session_resumed", lambda _: resumed.done() or resumed.set_result(True))
            phone.connect("127.0.0.1", server.config.xmpp.client_port)
            assert await asyncio.wait_for(resumed, 15), "the session was kept"
            await customer.becomes(online=True, status="On my phone")
            assert (await asyncio.wait_for(heard.get(), 10))["type"] == "available"
    finally:
        await clients.close()
        await service.stop()
