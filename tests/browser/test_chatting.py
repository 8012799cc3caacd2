"""Chatting in the page in a real Chromium: Start New, delivered and read ticks, online and last seen,
attachments through the upload host, and a customer starting a room from an appointment."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from dotimely_chat.app import ChatService
from tests.support.browser import Browser
from tests.support.business import Api, make_business
from tests.support.clients import ClientFactory
from tests.support.rooms import book, start
from tests.support.web_page import LIST_ITEM, open_as, send

pytestmark = pytest.mark.servers("prosody", "ejabberd")  # the same page on both servers

# A 2x2 red PNG and a one-page PDF, as a person would attach them.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==")
PDF = (b"%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


async def test_owner_starts_a_chat_by_name_and_sees_delivered_read_and_last_seen(
    api: Api, chat_service: ChatService, browser: Browser, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=2, staff=1)
    customer = biz["people"]["customer0"]
    peer = await xmpp_clients.connect(customer["jid"], customer["password"], "xep_0184", "xep_0333")
    peer.send_presence()
    received: asyncio.Queue[Any] = asyncio.Queue()
    peer.add_event_handler("message", received.put_nowait)  # the receipt goes back by itself (xep_0184)

    await open_as(browser, api, biz, "owner")
    await browser.screenshot("owner-list")
    await browser.click(".dt-start-new")
    await browser.call("type", selector=".dt-start-new-dialog .dt-search", value="Cathy Customer0")
    await browser.wait_for(f'.dt-result[data-jid="{customer["jid"]}"]')
    await browser.screenshot("start-new-search")
    await browser.click(f'.dt-result[data-jid="{customer["jid"]}"]')
    await browser.wait_for(f'converse-chat[jid="{customer["jid"]}"] textarea.chat-textarea', timeout=20)
    await browser.wait_for(".dt-presence-line:text-is('online')", timeout=20)
    await browser.screenshot("chat-opened-peer-online")

    await send(browser, "Hello Cathy, your colour is booked.")
    message = await asyncio.wait_for(received.get(), 15)
    assert message["body"] == "Hello Cathy, your colour is booked."
    await browser.wait_for(".dt-tick[data-state='delivered']", timeout=15)
    await browser.screenshot("delivered")

    peer.plugin["xep_0333"].send_marker(message["from"], message["id"], "displayed")
    await browser.wait_for(".dt-tick[data-state='read']", timeout=15)
    await browser.screenshot("read")

    peer.disconnect()
    await browser.wait_for(".dt-presence-line:text-matches('last seen')", timeout=45)
    await browser.screenshot("last-seen")
    # The chat now leads the owner's list.
    await browser.wait_for(f'{LIST_ITEM}[data-jid="{customer["jid"]}"]')
    first = await browser.evaluate("document.querySelector('.dt-conversations .dt-conversation').dataset.jid")
    assert first == customer["jid"]


async def test_a_picture_shows_inline_and_a_pdf_as_a_link(
    api: Api, chat_service: ChatService, browser: Browser, tmp_path: Path
) -> None:
    biz = await make_business(api, customers=1, staff=1)
    customer = biz["people"]["customer0"]
    (tmp_path / "photo.png").write_bytes(PNG)
    (tmp_path / "price-list.pdf").write_bytes(PDF)
    await open_as(browser, api, biz, "owner")
    await browser.click(f'{LIST_ITEM}[data-jid="{customer["jid"]}"]')
    view = f'converse-chat[jid="{customer["jid"]}"]'
    await browser.wait_for(f"{view} textarea.chat-textarea", timeout=20)

    upload = chat_service.config.http.upload_public_url
    await browser.call("setFiles", selector=f'{view} input[type="file"]', files=[str(tmp_path / "photo.png")])
    await browser.wait_for(f'{view} img[src^="{upload}"][src$="photo.png"]', timeout=20)
    await browser.call("setFiles", selector=f'{view} input[type="file"]', files=[str(tmp_path / "price-list.pdf")])
    await browser.wait_for(f'{view} a[href^="{upload}"][href$="price-list.pdf"]', timeout=20)
    await browser.screenshot("picture-inline-pdf-link")
    assert await browser.count(f'{view} img[src$="price-list.pdf"]') == 0
    # The upload host never saw the page's cookie (its own host name).
    assert upload.split("//")[1].split(":")[0] != chat_service.config.web.public_url.split("//")[1].split(":")[0]


async def test_a_customer_sees_only_their_conversations_and_starts_a_room_from_an_appointment(
    api: Api, chat_service: ChatService, browser: Browser
) -> None:
    biz = await make_business(api, customers=2, staff=1)
    people = biz["people"]
    others = await start(api, biz, "customer1", await book(api, biz, customer="customer1", service="Colour"))
    appointment = await book(api, biz, customer="customer0", service="Haircut")

    await open_as(browser, api, biz, "customer0")
    await browser.wait_for(f'{LIST_ITEM}[data-jid="{people["owner"]["jid"]}"]', timeout=5)
    jids = await browser.evaluate(
        "[...document.querySelectorAll('.dt-conversations .dt-conversation')].map(e => e.dataset.jid)")
    assert jids == [people["owner"]["jid"]]  # the owner only: no staff, no other customer, no one else's room
    assert others["jid"] not in jids
    await browser.screenshot("customer-list")

    await browser.click(".dt-start-new")
    await browser.wait_for(f'.dt-appointment[data-appointment="{appointment}"]')
    await browser.screenshot("customer-start-new-appointments")
    await browser.click(f'.dt-appointment[data-appointment="{appointment}"]')
    await browser.wait_for("converse-muc textarea.chat-textarea", timeout=30)
    room_jid = await browser.evaluate("document.querySelector('converse-muc').getAttribute('jid')")
    assert room_jid.startswith("appt-")
    await browser.wait_for(f'{LIST_ITEM}[data-jid="{room_jid}"]', timeout=20)
    await browser.screenshot("customer-room-opened")
    # The component keeps the person's bookmarks: the page does not write over them (on ejabberd 23.01 Converse
    # published its own copy of the one-item legacy list, refused for 'pubsub#max_items', and logged it).
    assert not [line for line in await browser.console() if "bookmark" in line.lower()]

    await send(browser, "Can I come 10 minutes later?", view="converse-muc")
    await browser.wait_for("converse-muc .dt-room-status", timeout=20)
    for _ in range(20):  # the observer records the message within about 50 ms plus one write
        await browser.click("converse-muc .dt-room-status")
        await browser.wait_for("converse-muc .dt-room-status-panel", timeout=5)
        if await browser.count("converse-muc .dt-overall") == 1:
            break
        await asyncio.sleep(0.5)
    names = await browser.texts("converse-muc .dt-room-status-panel li .dt-member")
    assert set(names) == {"Olga Owner", "Stan Staff0"}
    await browser.screenshot("customer-room-message-status")
