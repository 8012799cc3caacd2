"""The component's link to a real server (Prosody and ejabberd): privileges, accounts, health, reconnection
after a restart, the component as a roster contact."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from slixmpp import Presence

from dotimely_chat.app import ChatService
from dotimely_chat.policies.contacts import RosterEntry
from dotimely_chat.servers.ejabberd_process import EjabberdProcess
from dotimely_chat.servers.prosody_process import ProsodyProcess

from ..support.business import roster_of
from ..support.clients import ClientFactory

pytestmark = pytest.mark.servers("prosody", "ejabberd")

Server = ProsodyProcess | EjabberdProcess

# What each server grants the component (its generated config): XEP-0356 on Prosody with the IQ permission
# (PEP on users' behalf), privilege:1 on ejabberd 23.01 without one (EJABBERD.md §1).
GRANTED = {
    "prosody": (2, {"roster": "both", "message": "outgoing", "presence": "managed_entity"}, True),
    "ejabberd": (1, {"roster": "both", "message": "outgoing", "presence": "managed_entity"}, False),
}


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


async def test_component_reconnects_and_resynchronises_after_a_server_restart(
    xmpp_factory: Callable[..., Awaitable[Server]],
) -> None:
    server = await xmpp_factory()
    service = ChatService(server.config)
    resyncs: list[int] = []

    async def record() -> None:
        resyncs.append(service.component.state.connections)

    service.component.add_resync_step("record", record)
    await service.start()
    try:
        assert await service.component.wait_connected(15)
        status, body = await _health(service)
        assert status == 200 and body["xmpp"]["connected"] and body["database"]["ok"]
        version, accesses, pubsub = GRANTED[server.config.xmpp.server]
        privileges = service.component.privileges
        assert privileges is not None and privileges.version == version
        assert privileges.accesses == accesses
        assert privileges.allows_iq("http://jabber.org/protocol/pubsub", "set") is pubsub

        await server.stop()
        assert await _eventually(lambda: _health_is(service, 503), 10)
        await server.start()
        assert await _eventually(lambda: _health_is(service, 200), 20)
        assert service.component.state.connections == 2
        assert await service.component.wait_connected(10)
        assert resyncs == [1, 2]
        assert service.component.privileges is not None
        assert service.component.privileges.accesses == accesses, "advertised again on the new stream"
    finally:
        await service.stop()


async def _health_is(service: ChatService, expected: int) -> bool:
    status, _ = await _health(service)
    return status == expected


async def test_accounts_are_created_and_their_passwords_repaired(
    xmpp_server: Server, xmpp_clients: ClientFactory,
) -> None:
    """The account adapter of each server (Prosody: XEP-0133 over the link; ejabberd: the admin API's
    register / change_password): an account it creates exists with the password the service holds, and a
    password changed on the server behind the service's back is set back to the service's."""
    service = ChatService(xmpp_server.config)
    await service.start()
    try:
        assert await service.component.wait_connected(15)
        jid = f"newcomer-{int(time.time() * 1000)}@{xmpp_server.config.xmpp.domain}"
        assert await service.accounts.ensure_account(jid, "first-password-1") is True
        assert await xmpp_clients.logs_in(jid, "first-password-1")
        assert await service.accounts.ensure_account(jid, "second-password-2") is False
        assert await xmpp_clients.logs_in(jid, "second-password-2")
        assert not await xmpp_clients.logs_in(jid, "first-password-1")

        xmpp_clients.set_password(jid, "changed-by-hand-3")
        assert await xmpp_clients.logs_in(jid, "changed-by-hand-3")
        assert await service.accounts.ensure_account(jid, "second-password-2") is False
        assert await xmpp_clients.logs_in(jid, "second-password-2")
        assert not await xmpp_clients.logs_in(jid, "changed-by-hand-3")
    finally:
        await service.stop()


async def test_users_with_the_component_in_roster_see_it_online_and_keep_the_subscription(
    xmpp_server: Server, xmpp_clients: ClientFactory,
) -> None:
    """At login the server probes roster contacts. slixmpp's component would answer 'unsubscribed' and the
    server would downgrade the user's roster item for the component (FACTS.md; ejabberd does it too,
    EJABBERD.md §1); ours answers available. The item is set through the server's roster gateway (Prosody:
    a privileged roster set; ejabberd: the admin API's add_rosteritem)."""
    service = ChatService(xmpp_server.config)
    await service.start()
    try:
        assert await service.component.wait_connected(15)
        component_jid = service.component.boundjid.bare
        jid, password = xmpp_clients.account()
        await service.server.rosters.set_item(jid, RosterEntry(component_jid, "DoTimely", frozenset({"DoTimely"})))

        client = await xmpp_clients.connect(jid, password)
        presences: asyncio.Queue[Presence] = asyncio.Queue()
        client.add_event_handler("presence", presences.put_nowait)
        client.send_presence()  # initial presence: the server probes the contacts now
        answer = await asyncio.wait_for(presences.get(), 10)
        while answer["from"].bare != component_jid:
            answer = await asyncio.wait_for(presences.get(), 10)
        assert answer["type"] in ("available", "")

        await asyncio.sleep(0.5)  # the time an 'unsubscribed' answer would need to downgrade the item
        assert (await roster_of(client))[component_jid][2] == "both"
        assert (await service.server.rosters.get_roster(jid))[component_jid].subscription == "both"
    finally:
        await service.stop()
