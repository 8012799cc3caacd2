"""The component's link to a real Prosody: privileges, accounts, health, reconnection after a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
from slixmpp import Presence

from dotimely_chat.app import ChatService
from dotimely_chat.servers.prosody_process import ProsodyProcess

from ..support.clients import ClientFactory


async def _health(service: ChatService) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(f"{service.config.http.api_public_url}/healthz") as r:
        return r.status, await r.json()


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_component_reconnects_and_resynchronises_after_prosody_restart(
    prosody_factory: Callable[..., Awaitable[ProsodyProcess]],
) -> None:
    prosody = await prosody_factory()
    service = ChatService(prosody.config)
    resyncs: list[int] = []

    async def record() -> None:
        resyncs.append(service.component.state.connections)

    service.component.add_resync_step("record", record)
    await service.start()
    try:
        assert await service.component.wait_connected(15)
        status, body = await _health(service)
        assert status == 200 and body["xmpp"]["connected"] and body["database"]["ok"]
        assert service.component.privileges is not None
        assert service.component.privileges.allows_iq("http://jabber.org/protocol/pubsub", "set")

        await prosody.stop()
        assert await _eventually(lambda: _health_is(service, 503), 10)
        await prosody.start()
        assert await _eventually(lambda: _health_is(service, 200), 20)
        assert service.component.state.connections == 2
        assert await service.component.wait_connected(10)
        assert resyncs == [1, 2]
    finally:
        await service.stop()


async def _health_is(service: ChatService, expected: int) -> bool:
    status, _ = await _health(service)
    return status == expected


async def test_accounts_are_created_over_the_link_and_passwords_repaired(
    prosody_server: ProsodyProcess, xmpp_clients: ClientFactory,
) -> None:
    service = ChatService(prosody_server.config)
    await service.start()
    try:
        assert await service.component.wait_connected(15)
        jid = f"newcomer-{int(time.time() * 1000)}@{prosody_server.config.xmpp.domain}"
        assert await service.accounts.ensure_account(jid, "first-password-1") is True
        client = await xmpp_clients.connect(jid, "first-password-1")
        client.disconnect()
        assert await service.accounts.ensure_account(jid, "second-password-2") is False
        await xmpp_clients.connect(jid, "second-password-2")
    finally:
        await service.stop()


async def test_users_with_the_component_in_roster_see_it_online_and_keep_the_subscription(
    prosody_server: ProsodyProcess, xmpp_clients: ClientFactory,
) -> None:
    """At login Prosody probes roster contacts. slixmpp's component would answer 'unsubscribed' and
    Prosody would downgrade the user's roster item for the component (FACTS.md); ours answers available."""
    service = ChatService(prosody_server.config)
    await service.start()
    try:
        assert await service.component.wait_connected(15)
        component_jid = service.component.boundjid.bare
        jid, password = xmpp_clients.account()
        await service.component.plugin["xep_0356"].set_roster(
            jid, {component_jid: {"name": "DoTimely", "subscription": "both", "groups": ["DoTimely"]}})

        client = await xmpp_clients.connect(jid, password)
        presences: asyncio.Queue[Presence] = asyncio.Queue()
        client.add_event_handler("presence", presences.put_nowait)
        client.send_presence()  # initial presence: Prosody probes the contacts now
        answer = await asyncio.wait_for(presences.get(), 10)
        while answer["from"].bare != component_jid:
            answer = await asyncio.wait_for(presences.get(), 10)
        assert answer["type"] in ("available", "")
        await asyncio.sleep(0.5)
        roster = await client.get_roster()
        items = roster["roster"]["items"]
        assert items[component_jid]["subscription"] == "both"
    finally:
        await service.stop()
