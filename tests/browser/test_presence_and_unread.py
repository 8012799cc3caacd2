"""The list's dots and the chat heading follow a contact's real presence (online, away with idle time and a
status text, busy, then last seen); one-to-one rows show the last message's time and the unread count from
the person's own archive, also for what arrived while the page was closed; "read" shows for messages the
other side read while the page was closed."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from dotimely_chat.app import ChatService
from tests.support.browser import Browser
from tests.support.business import Api, make_business
from tests.support.clients import ClientFactory
from tests.support.web_page import LIST_ITEM, open_as, send

pytestmark = pytest.mark.servers("prosody", "ejabberd")  # the same page on both servers


def row(jid: str) -> str:
    return f'{LIST_ITEM}[data-jid="{jid}"]'


async def dot(browser: Browser, jid: str) -> tuple[str, str | None]:
    """The dot's presence class (online, away, dnd, offline...) and its title."""
    classes = await browser.attribute(f"{row(jid)} .dt-dot", "class") or ""
    state = next(c.removeprefix("dt-dot--") for c in classes.split() if c.startswith("dt-dot--"))
    return state, await browser.attribute(f"{row(jid)} .dt-dot", "title")


def idle_presence(client: Any, show: str, status: str, minutes: int) -> Any:
    """An available presence with <show/>, a status text and XEP-0319 idle since `minutes` (and 20 s) ago,
    built by hand: slixmpp 1.17's xep_0319.idle() fails inside xep_0012."""
    presence = client.make_presence(pshow=show, pstatus=status)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes, seconds=20)
    presence.xml.append(ET.Element("{urn:xmpp:idle:1}idle", since=since.isoformat(timespec="seconds")))
    return presence


async def test_dots_and_heading_follow_online_away_busy_and_offline(
    api: Api, chat_service: ChatService, browser: Browser, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=3, staff=1)
    people = biz["people"]
    online, offline, away_before, gone = (people[k] for k in ("customer0", "customer1", "customer2", "staff0"))
    # Before the page opens: one person is available, one away and idle, one came and went.
    peer = await xmpp_clients.connect(online["jid"], online["password"])
    peer.send_presence()  # plain available: no <show/>
    other = await xmpp_clients.connect(away_before["jid"], away_before["password"])
    idle_presence(other, "xa", "On holiday", minutes=5).send()
    visitor = await xmpp_clients.connect(gone["jid"], gone["password"])
    visitor.send_presence()
    await asyncio.sleep(0.5)
    visitor.disconnect()
    await asyncio.sleep(1)

    await open_as(browser, api, biz, "owner")
    await browser.wait_for(f"{row(online['jid'])} .dt-dot--online", timeout=20)
    assert await dot(browser, online["jid"]) == ("online", "online")
    assert await dot(browser, offline["jid"]) == ("offline", "offline")
    colour = await browser.evaluate(
        f"getComputedStyle(document.querySelector('{row(online['jid'])} .dt-dot')).backgroundColor")
    assert colour == "rgb(46, 158, 91)"  # green, not the offline grey
    # The presence Converse got at login carries idle time and status too.
    await browser.wait_for(f"{row(away_before['jid'])} .dt-dot--xa[title*='idle']", timeout=15)
    assert await dot(browser, away_before["jid"]) == ("xa", "online (away for a while) · idle 5 min · “On holiday”")
    # An offline contact's row says when they were last seen once the pointer is on it.
    assert await dot(browser, gone["jid"]) == ("offline", "offline")
    await browser.call("hover", selector=row(gone["jid"]))
    await browser.wait_for(f"{row(gone['jid'])} .dt-dot[title^='last seen ']", state="attached", timeout=15)
    assert (await browser.attribute(row(gone["jid"]), "title") or "").startswith("Stan Staff0 · last seen ")
    await browser.screenshot("online-green-offline-grey")

    # Away, idle for 12 minutes (XEP-0319), with a status text: amber dot, and the heading says all three.
    idle_presence(peer, "away", "At lunch", minutes=12).send()
    await browser.wait_for(f"{row(online['jid'])} .dt-dot--away[title*='idle']", timeout=15)
    assert await dot(browser, online["jid"]) == ("away", "online (away) · idle 12 min · “At lunch”")
    await browser.click(row(online["jid"]))
    heading = f'converse-chat[jid="{online["jid"]}"] converse-chat-heading'
    await browser.wait_for(f"{heading} .dt-presence-line:text-is('online (away) · idle 12 min · “At lunch”')",
                           timeout=20)
    # The line sits in the heading's text block, right under the contact's name, not at the window's edge.
    box = await browser.evaluate(f"""(() => {{
        const name = document.querySelector('{heading} .chatbox-title__text a.user').getBoundingClientRect();
        const node = document.querySelector('{heading} .dt-presence-line');
        const line = node.getBoundingClientRect();
        const clip = node.parentElement.getBoundingClientRect();  // .chatbox-title__text hides what overflows
        return {{nameLeft: name.left, nameBottom: name.bottom, lineLeft: line.left, lineTop: line.top,
                 lineBottom: line.bottom, lineRight: line.right, clipBottom: clip.bottom, clipRight: clip.right,
                 colour: getComputedStyle(node).color,
                 inside: node.parentElement.classList.contains('chatbox-title__text')}};
    }})()""")
    assert box["inside"]
    assert abs(box["lineLeft"] - box["nameLeft"]) < 2 and 0 <= box["lineTop"] - box["nameBottom"] < 10, box
    assert box["lineBottom"] <= box["clipBottom"] and box["lineRight"] <= box["clipRight"], box  # not cut off
    assert box["colour"] == "rgb(255, 255, 255)"  # white on the heading's colour, like the name
    await browser.screenshot("away-idle-heading")

    peer.send_presence(pshow="dnd")
    await browser.wait_for(f"{row(online['jid'])} .dt-dot--dnd", timeout=15)
    await browser.wait_for(f"{heading} .dt-presence-line:text-is('online (busy)')", timeout=15)
    assert await dot(browser, online["jid"]) == ("dnd", "online (busy)")
    await browser.screenshot("busy")

    peer.send_presence()
    await browser.wait_for(f"{row(online['jid'])} .dt-dot--online", timeout=15)
    peer.disconnect()
    await browser.wait_for(f"{row(online['jid'])} .dt-dot--offline", timeout=30)
    await browser.wait_for(f"{heading} .dt-presence-line:text-matches('^last seen ')", timeout=45)
    await browser.screenshot("last-seen")


async def test_rows_count_what_arrived_while_the_page_was_closed_and_show_read(
    api: Api, chat_service: ChatService, browser: Browser, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=2, staff=1)
    owner, customer = biz["people"]["owner"], biz["people"]["customer0"]
    writer = await xmpp_clients.connect(customer["jid"], customer["password"], "xep_0184", "xep_0333")
    writer.send_presence()

    # The owner's phone is online and gets two messages: the server never hands them to the page later,
    # only the archive has them.
    phone = await xmpp_clients.connect(owner["jid"], owner["password"])
    phone.send_presence()
    got: asyncio.Queue[Any] = asyncio.Queue()
    phone.add_event_handler("message", got.put_nowait)
    for text in ("Hi Olga", "Is 10:00 still fine?"):
        writer.send_message(mto=owner["jid"], mbody=text, mtype="chat")
        assert (await asyncio.wait_for(got.get(), 10))["body"] == text
    phone.disconnect()
    await asyncio.sleep(1)
    # A third while nobody of the owner's is online: kept offline and delivered to the page at login (and
    # archived): counted once.
    writer.send_message(mto=owner["jid"], mbody="Or 10:30?", mtype="chat")
    await asyncio.sleep(1)

    await open_as(browser, api, biz, "owner")
    await browser.wait_for(f"{row(customer['jid'])} .dt-unread", timeout=20)
    await asyncio.sleep(1.5)  # a late double count would show by now
    assert await browser.texts(f"{row(customer['jid'])} .dt-unread") == ["3"]
    # Today's time of the last message, as the page writes times ("12:18 PM" in Chromium's en-US).
    shown = (await browser.texts(f"{row(customer['jid'])} .dt-conversation-time"))[0]
    assert re.fullmatch(r"\d{1,2}:\d{2}( [AP]M)?", shown), shown
    order = await browser.evaluate(
        "[...document.querySelectorAll('.dt-conversations .dt-conversation')].map(e => e.dataset.jid)")
    assert order[0] == customer["jid"]
    await browser.screenshot("unread-from-archive")

    # Opening the chat reads it; a reload of the page keeps it read.
    await browser.click(row(customer["jid"]))
    view = f'converse-chat[jid="{customer["jid"]}"]'
    await browser.wait_for(f"{view} textarea.chat-textarea", timeout=20)
    await browser.wait_for(f"{row(customer['jid'])} .dt-unread", state="detached", timeout=10)
    received: asyncio.Queue[Any] = asyncio.Queue()
    writer.add_event_handler("message", lambda m: m["body"] and received.put_nowait(m))
    await send(browser, "10:30 is fine, see you.")
    message = await asyncio.wait_for(received.get(), 15)
    await browser.wait_for(f"{view} .dt-tick[data-state='delivered']", timeout=15)
    # One delivery mark per message: ours; Converse's own check is hidden (also on incoming messages).
    assert await browser.count(f"{view} .dt-tick") == 1
    assert await browser.evaluate(
        f"[...document.querySelectorAll('{view} .chat-msg__receipt')].filter(e => e.offsetParent !== null).length"
    ) == 0
    await browser.screenshot("one-mark")
    await browser.goto(f"{chat_service.config.web.public_url}/web/")
    await browser.wait_for("body.dt-ready", state="attached", timeout=30)
    await browser.wait_for(f"{row(customer['jid'])} .dt-conversation-time:text-matches('.')", timeout=20)
    await asyncio.sleep(1)
    assert await browser.count(f"{row(customer['jid'])} .dt-unread") == 0

    # The page closes; the customer reads the answer meanwhile; the page opened again shows it read.
    await browser.call("closePage", page="main")
    writer.plugin["xep_0333"].send_marker(message["from"], message["id"], "displayed")
    await asyncio.sleep(1)
    await open_as(browser, api, biz, "owner")
    await browser.click(row(customer["jid"]))
    await browser.wait_for(f"{view} .dt-tick[data-state='read']", timeout=20)
    await browser.screenshot("read-while-closed")

    # While the page is open: a message to a chat that is not on screen counts at once, in that chat's row
    # (which moves to the top); one to the chat on screen does not.
    staff = biz["people"]["staff0"]
    colleague = await xmpp_clients.connect(staff["jid"], staff["password"])
    colleague.send_presence()
    colleague.send_message(mto=owner["jid"], mbody="Towels are out", mtype="chat")
    await browser.wait_for(f"{row(staff['jid'])} .dt-unread:text-is('1')", timeout=15)
    order = await browser.evaluate(
        "[...document.querySelectorAll('.dt-conversations .dt-conversation')].map(e => e.dataset.jid)")
    assert order[0] == staff["jid"]
    writer.send_message(mto=owner["jid"], mbody="Thanks!", mtype="chat")
    await browser.wait_for(f"{view} converse-chat-message:has-text('Thanks!')", timeout=15)
    await asyncio.sleep(1.5)
    assert await browser.count(f"{row(customer['jid'])} .dt-unread") == 0
    assert await browser.texts(f"{row(staff['jid'])} .dt-unread") == ["1"]
    await browser.screenshot("live-unread")


async def test_a_chat_read_in_one_page_counts_as_read_in_the_next_one(
    api: Api, chat_service: ChatService, browser: Browser, xmpp_clients: ClientFactory
) -> None:
    """Read without a reply: the page's 'displayed' marker is in the person's archive (on ejabberd 23.01 only
    with its store hint), so the page opened on another device, in a browser of its own, counts the chat read."""
    biz = await make_business(api, customers=1, staff=1)
    owner, customer = biz["people"]["owner"], biz["people"]["customer0"]
    writer = await xmpp_clients.connect(customer["jid"], customer["password"], "xep_0333")
    writer.send_presence()
    displayed: asyncio.Queue[Any] = asyncio.Queue()
    writer.add_event_handler("marker_displayed", displayed.put_nowait)

    await open_as(browser, api, biz, "owner")
    for text in ("Hi Olga", "Is 10:00 still fine?"):
        message = writer.make_message(mto=owner["jid"], mbody=text, mtype="chat")
        message.xml.append(ET.Element("{urn:xmpp:chat-markers:0}markable"))  # as clients ask for markers
        message.send()
    await browser.wait_for(f"{row(customer['jid'])} .dt-unread:text-is('2')", timeout=15)
    await open_as(browser, api, biz, "owner", page="laptop")  # the other device counts them too
    await browser.wait_for(f"{row(customer['jid'])} .dt-unread:text-is('2')", page="laptop", timeout=20)
    await browser.call("closePage", page="laptop")

    await browser.click(row(customer["jid"]))  # read here: Converse sends 'displayed' for the last one
    marker = await asyncio.wait_for(displayed.get(), 15)
    assert marker["from"].bare == owner["jid"]
    await browser.screenshot("read-here")

    await open_as(browser, api, biz, "owner", page="laptop")
    await browser.wait_for(f"{row(customer['jid'])} .dt-conversation-time:text-matches('.')", page="laptop",
                           timeout=20)
    await asyncio.sleep(1.5)  # the archive is read by the time the list shows; a late count would show by now
    assert await browser.count(f"{row(customer['jid'])} .dt-unread", page="laptop") == 0
    await browser.screenshot("read-on-the-other-device", page="laptop")
