"""The "DoTimely" contact looks like a service that is there: a name and a group of its own in every
roster, and available presence from the component's JID whenever a person's client is online."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from slixmpp import ClientXMPP, Presence

from dotimely_chat.app import ChatService
from dotimely_chat.servers.prosody_process import ProsodyProcess

from ..support.business import Api, make_business, roster_of, unique
from ..support.clients import ClientFactory

pytestmark = pytest.mark.servers("prosody", "ejabberd")

WAIT = 10.0


def presences(client: ClientXMPP) -> asyncio.Queue[Presence]:
    queue: asyncio.Queue[Presence] = asyncio.Queue()
    client.add_event_handler("presence", queue.put_nowait)
    return queue


async def available_from(queue: asyncio.Queue[Presence], jid: str) -> Presence:
    async def scan() -> Presence:
        while True:
            presence = await queue.get()
            if presence["from"].bare == jid and presence["type"] in ("available", ""):
                return presence

    try:
        return await asyncio.wait_for(scan(), WAIT)
    except TimeoutError:
        raise AssertionError(f"no available presence from {jid} within {WAIT} s") from None


async def test_the_component_is_a_named_grouped_contact_that_is_online_after_login(
        api: Api, chat_service: ChatService, xmpp_clients: ClientFactory) -> None:
    biz = await make_business(api, customers=1, staff=1)
    component = chat_service.config.component.jid
    for key in ("owner", "staff0", "customer0"):
        person = biz["people"][key]
        client = await xmpp_clients.connect(person["jid"], person["password"])
        assert (await roster_of(client))[component] == ("DoTimely", ["DoTimely"], "both"), key
        queue = presences(client)
        await client.get_roster(timeout=WAIT)
        client.send_presence()  # a client's initial presence, as Gajim sends it after login
        got = await available_from(queue, component)
        assert got["to"].bare == person["jid"]


async def test_a_person_online_when_added_to_a_business_sees_the_component_come_online(
        api: Api, chat_service: ChatService, xmpp_clients: ClientFactory) -> None:
    """The roster item arrives as a push while the client is online; our presence follows it."""
    biz = await make_business(api, customers=0, staff=0)
    jid, password = xmpp_clients.account()
    client = await xmpp_clients.connect(jid, password)
    await client.get_roster(timeout=WAIT)
    client.send_presence()
    queue = presences(client)
    await api.call("PUT", f"/v1/businesses/{biz['id']}/people/{unique('walk-in')}",
                   {"role": "customer", "display_name": "Wanda Walkin", "jid": jid}, expect=201)
    await available_from(queue, chat_service.config.component.jid)


async def test_clients_online_while_the_component_was_away_see_it_come_back(
        prosody_factory: Callable[..., Awaitable[ProsodyProcess]]) -> None:
    """A client that logged in while the component was down had its probe bounced; when the component
    connects it tells every online person of a business that it is there (and nobody else)."""
    prosody = await prosody_factory()
    clients = ClientFactory(prosody)
    first = ChatService(prosody.config)
    await first.start()
    try:
        assert await first.component.wait_connected(15)
        async with aiohttp.ClientSession() as http:
            biz = await make_business(Api(first, http), customers=1, staff=0)
    finally:
        await first.stop()

    component = prosody.config.component.jid
    customer = biz["people"]["customer0"]
    client = await clients.connect(customer["jid"], customer["password"])
    stranger_jid, stranger_password = clients.account()
    stranger = await clients.connect(stranger_jid, stranger_password)
    queue, strangers_queue = presences(client), presences(stranger)
    for c in (client, stranger):
        await c.get_roster(timeout=WAIT)
        c.send_presence()
        await c.plugin["xep_0199"].ping(prosody.config.xmpp.domain, timeout=WAIT)
    while not queue.empty():  # whatever answered the probe while the component was away
        queue.get_nowait()

    second = ChatService(prosody.config)
    await second.start()
    try:
        assert await second.component.wait_connected(15)
        got = await available_from(queue, component)
        assert got["to"].full == client.boundjid.full
        await asyncio.sleep(1.0)
        assert not [p for p in _drain(strangers_queue)
                    if p["from"].bare == component and p["type"] in ("available", "")]

        await second.stop()  # a clean stop: the component shows offline again
        gone = await asyncio.wait_for(queue.get(), WAIT)
        while gone["from"].bare != component:
            gone = await asyncio.wait_for(queue.get(), WAIT)
        assert gone["type"] == "unavailable"
    finally:
        await second.stop()
        await clients.close()


def _drain(queue: asyncio.Queue[Presence]) -> list[Presence]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
