"""The page in a real Chromium: a login link lands in the conversations list (rooms and chats, most recent
first); used, expired and unknown links and removed people get a clear page, never a retry loop."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from dotimely_chat.app import ChatService
from dotimely_chat.storage.models.web import WebLoginTicket
from dotimely_chat.storage.types import utcnow
from tests.support.browser import Browser
from tests.support.business import Api, make_business
from tests.support.rooms import book, start
from tests.support.web_page import LIST_ITEM, login_link

pytestmark = pytest.mark.servers("prosody", "ejabberd")  # the same page on both servers


async def test_an_owner_opens_the_login_link_and_sees_every_conversation_latest_first(
    api: Api, chat_service: ChatService, browser: Browser
) -> None:
    biz = await make_business(api, customers=2, staff=1)
    older = await start(api, biz, "customer1", await book(api, biz, customer="customer1",
                                                          service="Colour consultation"))
    newer = await start(api, biz, "customer0", await book(api, biz, service="Haircut"))
    url = await login_link(api, biz, "owner")

    assert await browser.goto(url) == 200
    await browser.wait_for(f'{LIST_ITEM}[data-jid="{newer["jid"]}"]', timeout=30)
    await browser.wait_for("body.dt-ready", state="attached", timeout=30)
    await browser.screenshot("owner-conversations-list")

    order = [jid for jid in await browser.evaluate(
        "[...document.querySelectorAll('.dt-conversations .dt-conversation')].map(e => e.dataset.jid)")]
    people = biz["people"]
    assert order[:2] == [newer["jid"], older["jid"]]  # rooms by their latest activity
    assert set(order[2:]) == {people[k]["jid"] for k in ("staff0", "customer0", "customer1")}
    assert await browser.count(".dt-start-new") == 1
    # A room's row: the service, the customer and the date on lines of their own, none cut short; the whole
    # name ("Colour consultation · Cathy Customer1 · Fri 04 Dec 10:00 UTC") on hover.
    room_row = f'{LIST_ITEM}[data-jid="{older["jid"]}"]'
    assert await browser.texts(f"{room_row} .dt-conversation-name") == ["Colour consultation"]
    customer_line, date_line = await browser.texts(f"{room_row} .dt-conversation-sub")
    assert customer_line == "Cathy Customer1" and re.search(r"\d{1,2}:\d{2}", date_line), date_line
    assert await browser.attribute(room_row, "title") == older["name"]
    assert older["name"].startswith("Colour consultation · Cathy Customer1 · ")
    cut = await browser.evaluate(f"""[...document.querySelectorAll('{room_row} .dt-conversation-text > span')]
        .filter(e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1).length""")
    assert cut == 0
    header = await browser.texts("#dt-whoami")
    assert header == [f"Olga Owner · Salon {biz['id']}"]

    # The link worked once: opening it again says so (in another browser, without the cookie).
    assert await browser.goto(url, page="other") == 410
    assert await browser.texts("#dt-message-title", page="other") == ["This login link was already used"]
    await browser.screenshot("link-used", page="other")


async def test_unknown_and_expired_links_and_removed_people_get_a_clear_page(
    api: Api, chat_service: ChatService, browser: Browser
) -> None:
    biz = await make_business(api, customers=1, staff=1)
    base = chat_service.config.web.public_url
    assert await browser.goto(f"{base}/web/login?ticket=nonsense") == 404
    assert await browser.texts("#dt-message-title") == ["This login link is not valid"]
    await browser.screenshot("link-unknown")

    expired = await login_link(api, biz, "customer0")
    async with chat_service.database.session() as session:
        await session.execute(update(WebLoginTicket).values(expires_at=utcnow()))
        await session.commit()
    assert await browser.goto(expired) == 410
    assert await browser.texts("#dt-message-title") == ["This login link has expired"]
    await browser.screenshot("link-expired")

    # Without a session the page explains instead of retrying.
    await browser.goto(f"{base}/web/", page="stranger")
    await browser.wait_for("#dt-message-title", page="stranger")
    assert await browser.texts("#dt-message-title", page="stranger") == ["Please open the chat from DoTimely"]
    await browser.screenshot("signed-out", page="stranger")

    # A person removed from the business: their open session shows that they no longer have access.
    await browser.goto(await login_link(api, biz, "customer0"), page="customer")
    await browser.wait_for(LIST_ITEM, page="customer", timeout=30)
    await api.call("DELETE", f"/v1/businesses/{biz['id']}/people/{biz['people']['customer0']['id']}", expect=200)
    await browser.goto(f"{base}/web/", page="customer")
    await browser.wait_for("#dt-message-title", page="customer")
    assert await browser.texts("#dt-message-title", page="customer") == ["You no longer have access to this chat"]
    await browser.screenshot("removed-person", page="customer")
