"""One invitation, only where needed: a client that joins a room from its bookmark (XEP-0402; XEP-0048 on ejabberd) (at login, or
on the live bookmark notification) gets no XEP-0249 invitation; a client that does not join gets one."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from slixmpp import ClientXMPP
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from dotimely_chat.app import ChatService

from ..support.business import Api, make_business
from ..support.clients import ClientFactory
from ..support.rooms import book, join, start

pytestmark = pytest.mark.servers("prosody", "ejabberd")

NS_BOOKMARKS = "urn:xmpp:bookmarks:1"
NS_LEGACY_BOOKMARKS = "storage:bookmarks"  # what the service writes, and clients read, on ejabberd 23.01
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_EVENT = f"{NS_PUBSUB}#event"
NS_CONFERENCE = "jabber:x:conference"
AFTER_BOOKMARK, AFTER_LOGIN = 1.0, 2.0  # the service's waits, shortened for the tests
QUIET = 2.0  # after the wait: what must not come has not come


@pytest.fixture
async def service(chat_service: ChatService) -> AsyncIterator[ChatService]:
    invitations = chat_service.muc.invitations
    invitations.after_bookmark, invitations.after_login = AFTER_BOOKMARK, AFTER_LOGIN
    yield chat_service


class Invites:
    """XEP-0249 invitations that reach one client, in order."""

    def __init__(self) -> None:
        self.rooms: list[str] = []
        self.changed = asyncio.Event()

    def on_message(self, message: Any) -> None:
        x = message.xml.find(f"{{{NS_CONFERENCE}}}x")
        if x is not None:
            self.rooms.append(x.get("jid", ""))
            self.changed.set()

    async def wait_for(self, room: str, timeout: float) -> None:
        async def scan() -> None:
            while room not in self.rooms:
                self.changed.clear()
                await self.changed.wait()

        try:
            await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            raise AssertionError(f"no invitation to {room} within {timeout} s (got {self.rooms})") from None


def _any_message(client: ClientXMPP, callback: Any) -> Callback:
    """Every message stanza (slixmpp's 'message' event skips bodyless ones such as XEP-0249 invitations)."""
    return Callback(f"test-{id(callback)}", MatchXPath(f"{{{client.default_ns}}}message"), callback)


def invites_of(client: ClientXMPP) -> Invites:
    invites = Invites()
    client.register_handler(_any_message(client, invites.on_message))
    return invites


def autojoin_rooms(item: ET.Element, node: str) -> list[str]:
    """The autojoin rooms of one PEP item: XEP-0402 (one room, the item id) or XEP-0048 (a <storage> list)."""
    if node == NS_BOOKMARKS:
        conference = item.find(f"{{{NS_BOOKMARKS}}}conference")
        found = [] if conference is None else [(item.get("id", ""), conference)]
    else:
        found = [(c.get("jid", ""), c) for c in item.iterfind(f"{{{node}}}storage/{{{node}}}conference")]
    return [room for room, conference in found if conference.get("autojoin") in ("true", "1")]


async def log_in_like_gajim(xmpp_clients: ClientFactory, person: dict[str, Any],
                            node: str = NS_BOOKMARKS) -> tuple[ClientXMPP, Invites]:
    """Log in, then join every autojoin room of one's own PEP bookmarks on `node` (what Gajim does at login),
    and join any room whose bookmark is notified while online (+notify in the client's caps)."""
    client = await xmpp_clients.connect(person["jid"], person["password"], "xep_0115")
    invites = invites_of(client)
    client.plugin["xep_0030"].add_feature(f"{node}+notify")
    await client.plugin["xep_0115"].update_caps(broadcast=False)  # the server reads +notify from the caps
    joined: set[str] = set()

    async def join_new(rooms: list[str]) -> None:
        for room in rooms:
            if room not in joined:  # XEP-0048 notifies the whole list each time
                joined.add(room)
                await join(client, room, "autojoined")

    async def on_notification(message: Any) -> None:
        for item in message.xml.iter(f"{{{NS_EVENT}}}item"):
            await join_new(autojoin_rooms(item, node))

    def on_message(message: Any) -> None:
        event = message.xml.find(f"{{{NS_EVENT}}}event/{{{NS_EVENT}}}items")
        if event is not None and event.get("node") == node and message["from"].bare == person["jid"]:
            asyncio.ensure_future(on_notification(message))

    client.register_handler(_any_message(client, on_message))
    await client.get_roster(timeout=10)
    client.send_presence()
    iq = client.make_iq_get(ito=person["jid"])
    ET.SubElement(ET.SubElement(iq.xml, f"{{{NS_PUBSUB}}}pubsub"), f"{{{NS_PUBSUB}}}items", node=node)
    try:
        reply = await iq.send(timeout=10)
    except Exception:  # noqa: BLE001 - no bookmarks yet
        return client, invites
    for item in reply.xml.iter(f"{{{NS_PUBSUB}}}item"):
        await join_new(autojoin_rooms(item, node))
    return client, invites


def bookmarks_node(service: ChatService) -> str:
    """Where clients read room bookmarks on the test's server (servers/ejabberd_pep.py says why)."""
    return NS_LEGACY_BOOKMARKS if service.server.server == "ejabberd" else NS_BOOKMARKS


async def log_in_without_autojoin(xmpp_clients: ClientFactory, person: dict[str, Any]) -> tuple[ClientXMPP, Invites]:
    client = await xmpp_clients.connect(person["jid"], person["password"])
    invites = invites_of(client)
    await client.get_roster(timeout=10)
    client.send_presence()
    await client.plugin["xep_0199"].ping(client.boundjid.domain, timeout=10)
    return client, invites


async def test_clients_that_join_from_the_bookmark_at_login_get_no_invitation_the_others_one(
        api: Api, service: ChatService, xmpp_clients: ClientFactory) -> None:
    biz = await make_business(api, customers=1, staff=1)
    appointment = await book(api, biz)
    room = (await start(api, biz, "customer0", appointment))["jid"]
    await asyncio.sleep(0.5)  # the bookmarks are published (offline people: nothing is sent to them)

    customer, customer_invites = await log_in_like_gajim(xmpp_clients, biz["people"]["customer0"],
                                                         bookmarks_node(service))
    _staff, staff_invites = await log_in_without_autojoin(xmpp_clients, biz["people"]["staff0"])
    # joined from the bookmark
    assert customer.boundjid.full in service.muc._events.occupants.clients_in(room)

    await staff_invites.wait_for(room, AFTER_LOGIN + 10)
    await asyncio.sleep(QUIET)
    assert staff_invites.rooms == [room]  # once
    assert customer_invites.rooms == []

    # Rescheduling renames the room and republishes every bookmark: nobody is invited again.
    people = biz["people"]
    starts = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0).isoformat()
    await api.call("PUT", f"/v1/businesses/{biz['id']}/appointments/{appointment}", {
        "customer": people["customer0"]["id"], "staff": people["staff0"]["id"], "starts_at": starts,
        "duration_minutes": 45, "service_name": "Haircut"}, expect=200)
    await asyncio.sleep(AFTER_BOOKMARK + QUIET)
    assert staff_invites.rooms == [room] and customer_invites.rooms == []


async def test_a_client_online_that_joins_on_the_bookmark_notification_gets_no_invitation(
        api: Api, service: ChatService, xmpp_clients: ClientFactory) -> None:
    biz = await make_business(api, customers=1, staff=1)
    customer, customer_invites = await log_in_like_gajim(xmpp_clients, biz["people"]["customer0"],
                                                         bookmarks_node(service))
    _staff, staff_invites = await log_in_without_autojoin(xmpp_clients, biz["people"]["staff0"])
    await asyncio.sleep(AFTER_LOGIN + 0.5)  # both have been online longer than the login wait

    room = (await start(api, biz, "customer0", await book(api, biz)))["jid"]
    await staff_invites.wait_for(room, AFTER_BOOKMARK + 10)
    # joined on the notification
    assert customer.boundjid.full in service.muc._events.occupants.clients_in(room)
    await asyncio.sleep(QUIET)
    assert staff_invites.rooms == [room]
    assert customer_invites.rooms == []

    # A second client of the customer that does not autojoin is invited; the first is not.
    _second, second_invites = await log_in_without_autojoin(
        xmpp_clients, {**biz["people"]["customer0"], "jid": biz["people"]["customer0"]["jid"] + "/phone"})
    await second_invites.wait_for(room, AFTER_LOGIN + 10)
    await asyncio.sleep(QUIET)
    assert customer_invites.rooms == [] and second_invites.rooms == [room]
