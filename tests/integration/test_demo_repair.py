"""The demo business after its accounts went from the server (a new cluster's empty mnesia, a wiped Prosody
data directory): `up` makes them again with the kept passwords, and people get their names back, so clients
show "Olivia Owner" and not a bare JID."""

from __future__ import annotations

from pathlib import Path

import pytest
from slixmpp import ClientXMPP

from dotimely_chat.app import ChatService
from dotimely_chat.services.demo import ensure_demo_business

from ..support.clients import ClientFactory
from ..support.names import fetched_nick
from ..support.waiting import eventually

pytestmark = pytest.mark.servers("prosody", "ejabberd")


async def test_a_demo_account_gone_from_the_server_is_made_again_with_its_password_and_its_name(
    chat_service: ChatService, xmpp_clients: ClientFactory, tmp_path: Path
) -> None:
    domain, state = chat_service.config.xmpp.domain, tmp_path / "demo-state"
    accounts = await ensure_demo_business(chat_service.directory, chat_service.database, domain, state)
    owner, customer = accounts[0], next(a for a in accounts if a.role == "customer")
    watcher = await xmpp_clients.connect(customer.jid, customer.password)
    assert await fetched_nick(watcher, owner.jid) == owner.display_name

    xmpp_clients.delete_account(owner.jid)
    assert await fetched_nick(watcher, owner.jid) is None  # the account and its PEP went

    again = await ensure_demo_business(chat_service.directory, chat_service.database, domain, state)
    assert again == accounts  # the same printed passwords
    await xmpp_clients.connect(owner.jid, owner.password)
    await eventually(lambda: _nick_is(watcher, owner.jid, owner.display_name), 10)


async def _nick_is(client: ClientXMPP, jid: str, name: str) -> bool:
    return await fetched_nick(client, jid) == name
