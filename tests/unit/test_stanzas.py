"""The stanza vocabulary (component/stanzas.py) on hand-written stanzas: what is trusted, what is read."""

from __future__ import annotations

import datetime as dt
from xml.etree.ElementTree import fromstring

import pytest

from dotimely_chat.component import stanzas
from dotimely_chat.services.ports import Mark

ROOM = "appt-1@rooms.example.test"
NS = "jabber:component:accept"


def message(children: str) -> str:
    return f"<message xmlns='{NS}' from='{ROOM}/cathy' type='groupchat'>{children}</message>"


def test_markers_in_order_then_the_receipt_and_nothing_without_an_id() -> None:
    xml = fromstring(message(
        "<received xmlns='urn:xmpp:chat-markers:0' id='a'/><displayed xmlns='urn:xmpp:chat-markers:0' id='b'/>"
        "<acknowledged xmlns='urn:xmpp:chat-markers:0' id='c'/><markable xmlns='urn:xmpp:chat-markers:0'/>"
        "<displayed xmlns='urn:xmpp:chat-markers:0'/><received xmlns='urn:xmpp:receipts' id='r'/>"))
    assert stanzas.marks(xml) == (Mark("received", "a"), Mark("displayed", "b"), Mark("receipt", "r"))
    assert stanzas.marks(fromstring(message("<body>hi</body><request xmlns='urn:xmpp:receipts'/>"))) == ()


def test_only_the_rooms_stanza_id_is_trusted() -> None:
    xml = fromstring(message("<stanza-id xmlns='urn:xmpp:sid:0' by='cathy@example.test' id='forged'/>"
                             f"<stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='real'/>"
                             "<origin-id xmlns='urn:xmpp:sid:0' id='o1'/>"))
    assert stanzas.room_stanza_id(xml, ROOM) == "real"
    assert stanzas.room_stanza_id(xml, "other@rooms.example.test") is None
    assert stanzas.origin_id(xml) == "o1"


def test_history_is_known_by_the_rooms_own_delay_only() -> None:
    own = fromstring(message(f"<delay xmlns='urn:xmpp:delay' from='{ROOM}' stamp='2026-12-03T10:00:01Z'/>"))
    claimed = fromstring(message("<delay xmlns='urn:xmpp:delay' from='cathy@example.test' "
                                 "stamp='2026-12-03T10:00:01Z'/>"))
    assert stanzas.is_room_history(own, ROOM) and not stanzas.is_room_history(claimed, ROOM)


def test_attachments_urls_once_each_in_order() -> None:
    xml = fromstring(message("<x xmlns='jabber:x:oob'><url> https://u/1 </url></x>"
                             "<x xmlns='jabber:x:oob'><url>https://u/2</url></x>"
                             "<x xmlns='jabber:x:oob'><url>https://u/1</url></x><x xmlns='jabber:x:oob'/>"))
    assert stanzas.oob_urls(xml) == ("https://u/1", "https://u/2")
    assert stanzas.carries_oob(xml) and not stanzas.carries_oob(fromstring(message("<body>hi</body>")))


def test_the_servers_item_is_the_last_muc_user_child() -> None:
    xml = fromstring(message(
        "<x xmlns='http://jabber.org/protocol/muc#user'><item jid='owner@example.test'/></x>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item jid='cathy@example.test/phone'/></x>"))
    item = stanzas.server_item(xml)
    assert item is not None and item.get("jid") == "cathy@example.test/phone"
    assert stanzas.server_item(fromstring(message("<body>hi</body>"))) is None


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-12-03T10:00:01Z", dt.datetime(2026, 12, 3, 10, 0, 1, tzinfo=dt.UTC)),
    ("2026-12-03T10:00:01", dt.datetime(2026, 12, 3, 10, 0, 1, tzinfo=dt.UTC)),
    ("2026-12-03T11:00:01.5+01:00", dt.datetime(2026, 12, 3, 10, 0, 1, 500000, tzinfo=dt.UTC)),
    ("yesterday", None), ("", None), (None, None),
])
def test_times(value: str | None, expected: dt.datetime | None) -> None:
    assert stanzas.parse_time(value) == expected


def test_status_codes() -> None:
    x = fromstring("<x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/><status code='201'/>"
                   "<status code='x'/></x>")
    assert stanzas.status_codes(x) == {110, 201} and stanzas.status_codes(None) == frozenset()
