"""The demo business of `up`: made again at every start without throwing out connected clients (on Prosody
and on ejabberd)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dotimely_chat.app import ChatService
from dotimely_chat.services.demo import ensure_demo_business

from ..support.clients import ClientFactory

pytestmark = pytest.mark.servers("prosody", "ejabberd")


async def test_demo_passwords_are_kept_and_a_connected_client_stays_connected(
    chat_service: ChatService, xmpp_clients: ClientFactory, tmp_path: Path
) -> None:
    domain, state = chat_service.config.xmpp.domain, tmp_path / "demo-state"
    accounts = await ensure_demo_business(chat_service.directory, chat_service.database, domain, state)
    owner = accounts[0]
    client = await xmpp_clients.connect(owner.jid, owner.password)
    thrown_out = asyncio.Event()
    client.add_event_handler("disconnected", lambda _: thrown_out.set())

    again = await ensure_demo_business(chat_service.directory, chat_service.database, domain, state)
    assert again == accounts
    # Prosody 0.12 closes the other sessions of an account whose password is set, before it answers the
    # XEP-0133 command (on ejabberd the password would change under the client): a ping answered after the
    # second run proves the session was left alone.
    await client.plugin["xep_0199"].ping(jid=domain, timeout=5)
    assert not thrown_out.is_set(), "the demo's start threw the connected owner out"
    await xmpp_clients.connect(owner.jid, owner.password)
