"""A web page that is closed is offline at once, with its last seen at the close (tests/integration/test_presence.py
covers a connection lost without a goodbye: offline after the session's hibernation, last seen at the cut)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest

from dotimely_chat.app import ChatService
from tests.support.browser import Browser
from tests.support.business import Api, make_business
from tests.support.clients import ClientFactory
from tests.support.presence import PresenceOf
from tests.support.web_page import open_as

pytestmark = pytest.mark.servers("prosody", "ejabberd")  # the same page on both servers

DELAY = "{urn:xmpp:delay}delay"


async def test_a_closed_page_says_goodbye_and_is_offline_with_last_seen_at_the_close(
    api: Api, chat_service: ChatService, browser: Browser, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=1, staff=1)
    staff = PresenceOf(api, biz, "staff0")
    owner = biz["people"]["owner"]
    watcher = await xmpp_clients.connect(owner["jid"], owner["password"])  # the owner sees the staff's presence
    gone: asyncio.Queue[Any] = asyncio.Queue()
    watcher.add_event_handler(  # the page's own (full JID), not the answer to our probe while it was closed
        "presence_unavailable",
        lambda p: p["from"].bare == staff.person["jid"] and p["from"].resource and gone.put_nowait(p))
    watcher.send_presence()

    await open_as(browser, api, biz, "staff0")
    await staff.becomes(timeout=30, online=True)
    # A reload ends the session too (pagehide) and the page logs in again by itself.
    await browser.goto(chat_service.config.web.public_url + "/web/")
    await browser.wait_for("body.dt-ready", state="attached", timeout=30)
    await staff.becomes(timeout=30, online=True)
    await browser.screenshot("page-open-staff-online")
    closed = time.time()
    await browser.call("closeTab", page="main")

    # Without the page's goodbye the session would hibernate (45 s here) and its unavailable presence would
    # come stamped by mod_dotimely_presence: this one comes from the page itself, unstamped.
    presence = await asyncio.wait_for(gone.get(), 120)
    assert presence.xml.find(DELAY) is None, f"the session hibernated: {presence}"
    answer = await staff.becomes(timeout=30, online=False)
    assert abs(dt.datetime.fromisoformat(answer["last_seen_at"]).timestamp() - closed) < 5, (answer, closed)
