"""The component's ad-hoc commands can be found (Gajim's and Conversations' "Execute command" ask disco#items
on the commands node), after start and after a reconnection, each person offered what they may run."""

from __future__ import annotations

import pytest
import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
from slixmpp import ClientXMPP

from dotimely_chat.app import ChatService
from dotimely_chat.servers.prosody_process import ProsodyProcess

from ..support.business import Api, make_business
from ..support.clients import ClientFactory

pytestmark = pytest.mark.servers("prosody", "ejabberd")

COMMANDS_NODE = "http://jabber.org/protocol/commands"
EVERYONE = {"start-chat": "Start a chat about an appointment", "message-status": "Message status"}
OWNER = {**EVERYONE, "new-conversation": "Start a new conversation", "export": "Export conversations"}


async def listed_commands(client: ClientXMPP, component: str) -> dict[str, str]:
    """What "Execute command" shows: node -> name of every item on the commands node."""
    reply = await client.plugin["xep_0030"].get_items(jid=component, node=COMMANDS_NODE, timeout=10)
    items = reply["disco_items"]["items"]
    assert all(jid == component for jid, _, _ in items), items
    return {node: name for _, node, name in items}


async def test_commands_are_listed_to_each_person_by_role_after_start(
        api: Api, chat_service: ChatService, xmpp_clients: ClientFactory) -> None:
    biz = await make_business(api, customers=1, staff=1)
    component = chat_service.config.component.jid
    expected = {"owner": OWNER, "staff0": EVERYONE, "customer0": EVERYONE}
    for key, commands in expected.items():
        person = biz["people"][key]
        client = await xmpp_clients.connect(person["jid"], person["password"])
        assert await listed_commands(client, component) == commands, key
    stranger, password = xmpp_clients.account()
    assert await listed_commands(await xmpp_clients.connect(stranger, password), component) == {}


async def test_commands_are_still_listed_after_the_component_reconnects(
        prosody_factory: Callable[..., Awaitable[ProsodyProcess]]) -> None:
    prosody = await prosody_factory()
    service = ChatService(prosody.config)
    clients = ClientFactory(prosody)
    await service.start()
    try:
        assert await service.component.wait_connected(15)
        async with aiohttp.ClientSession() as http:
            biz = await make_business(Api(service, http), customers=0, staff=0)
        owner = biz["people"]["owner"]
        component = service.config.component.jid
        assert await listed_commands(await clients.connect(owner["jid"], owner["password"]), component) == OWNER

        await prosody.stop()
        await clients.close()
        await prosody.start()
        deadline = time.monotonic() + 20
        while service.component.state.connections < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert await service.component.wait_connected(15), service.component.state
        assert service.component.state.connections == 2
        assert await listed_commands(await clients.connect(owner["jid"], owner["password"]), component) == OWNER
    finally:
        await clients.close()
        await service.stop()
