"""Parsing a MAM result (no server): the server's time stamp keeps what precision it has."""

from __future__ import annotations

import datetime as dt
from xml.etree.ElementTree import fromstring

import pytest

from dotimely_chat.component.muc_archive import parse_result

ROOM = "appt-1@rooms.example.test"


def result(stamp: str) -> str:
    return (f"<result xmlns='urn:xmpp:mam:2' queryid='q' id='sid-1'>"
            f"<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='{stamp}'/>"
            f"<message xmlns='jabber:component:accept' from='{ROOM}/cathy' type='groupchat'><body>hi</body>"
            f"<x xmlns='http://jabber.org/protocol/muc#user'><item jid='cathy@example.test/phone'/></x>"
            f"</message></forwarded></result>")


@pytest.mark.parametrize(("stamp", "expected"), [
    ("2026-12-03T10:00:01Z", dt.datetime(2026, 12, 3, 10, 0, 1, tzinfo=dt.UTC)),            # Prosody 0.12
    ("2026-12-03T10:00:01.250Z", dt.datetime(2026, 12, 3, 10, 0, 1, 250000, tzinfo=dt.UTC)),
    ("2026-12-03T10:00:01.123456Z", dt.datetime(2026, 12, 3, 10, 0, 1, 123456, tzinfo=dt.UTC)),  # ejabberd
    ("2026-12-03T11:00:01.5+01:00", dt.datetime(2026, 12, 3, 10, 0, 1, 500000, tzinfo=dt.UTC)),
])
def test_the_archive_time_keeps_its_fraction_of_a_second(stamp: str, expected: dt.datetime) -> None:
    message = parse_result(ROOM, fromstring(result(stamp)))
    assert message is not None and message.sent_at == expected and message.sender_jid == "cathy@example.test"


def test_a_bad_stamp_leaves_the_message_out() -> None:
    assert parse_result(ROOM, fromstring(result("yesterday"))) is None


def test_time_bounds_are_asked_wide_in_whole_seconds() -> None:
    """ejabberd stamps microseconds: an end bound cut down to its second would lose what was said in its last
    fraction of a second; the caller (the export) cuts exactly."""
    from dotimely_chat.component.muc_archive import _query

    start = dt.datetime(2026, 12, 3, 10, 0, 1, 700000, tzinfo=dt.UTC)
    end = dt.datetime(2026, 12, 3, 10, 0, 5, 200000, tzinfo=dt.UTC)
    fields = {f.get("var"): f.findtext("{jabber:x:data}value") for f in _query("q", None, start, end, 10).iter(
        "{jabber:x:data}field")}
    assert fields["start"] == "2026-12-03T10:00:01Z" and fields["end"] == "2026-12-03T10:00:06Z"
    whole = _query("q", None, None, end.replace(microsecond=0), 10)
    assert [f.findtext("{jabber:x:data}value") for f in whole.iter("{jabber:x:data}field")][-1] == \
        "2026-12-03T10:00:05Z"
