"""Delivery status, read receipts and presence, seen by the observer from real clients in real rooms."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import StanzaBase

from dotimely_chat.app import ChatService
from dotimely_chat.component.muc_archive import archived_messages

from ..support.business import Api, make_business
from ..support.clients import ClientFactory
from ..support.link import not_connected, resynced
from ..support.people import Inbox
from ..support.rooms import book, join, start
from ..support.status import HINTS, MARKERS, Member, by_member, room_with_people, status_of
from ..support.waiting import eventually

pytestmark = pytest.mark.servers("prosody", "ejabberd")

RECEIPTS, CHAT_STATES = "urn:xmpp:receipts", "http://jabber.org/protocol/chatstates"


async def test_delivery_and_read_follow_what_members_do(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz, room, clients = await room_with_people(api, xmpp_clients)
    customer, staff, owner = (biz["people"][k]["jid"] for k in ("customer0", "staff0", "owner"))
    await join(clients["customer0"], room, "customer")
    await join(clients["staff0"], room, "staff")
    speaker, listener = Member(clients["customer0"], room), Member(clients["staff0"], room)

    first = await speaker.say("Hello, is 10:00 still fine?")
    second = await speaker.say("I might be 5 minutes late")

    async def recorded() -> bool:
        answer = await status_of(api, biz, room, second, expect=None)
        return "members" in answer

    took = await eventually(recorded, 2.0)
    status = await status_of(api, biz, room, first)
    members = by_member(status)
    assert status["sender"]["jid"] == customer and status["status"] == "sent"
    assert set(members) == {staff, owner}, "the sender has no copy to deliver"
    assert members[staff]["delivered_via"] == "online" and members[staff]["read_at"] is None
    assert members[owner]["delivered_at"] is None, "the owner was not in the room"

    # The owner's client enters: everything it missed is delivered now.
    await join(clients["owner"], room, "owner")
    await eventually(lambda: _member_field(api, biz, room, first, owner, "delivered_via", "join"), 2.0)

    # A displayed marker with the room's stanza-id covers every earlier message too.
    listener.mark("displayed", second)
    await eventually(lambda: _member_field(api, biz, room, first, staff, "read_at"), 2.0)
    members = by_member(await status_of(api, biz, room, first))
    assert members[staff]["read_at"] >= members[staff]["delivered_at"]
    # The owner's client names the sender's origin-id instead: accepted too.
    owner_side = Member(clients["owner"], room)
    origin = next(mid for mid, sid in speaker.echoes.items() if sid == second)
    owner_side.mark("displayed", origin)
    await eventually(lambda: _overall(api, biz, room, second, "read"), 2.0)
    read_at = by_member(await status_of(api, biz, room, second))[staff]["read_at"]

    # Repeated or unknown markers change nothing.
    listener.mark("displayed", second)
    listener.mark("displayed", "no-such-id")
    await speaker.say("ok")  # something to wait on: the batch after the markers is written
    await asyncio.sleep(0.4)
    assert by_member(await status_of(api, biz, room, second))[staff]["read_at"] == read_at

    summary = await api.call("GET", f"/v1/businesses/{biz['id']}/conversations/{room.split('@')[0]}/status",
                             expect=200)
    unread = {m["jid"]: (m["unread"], (m["last_read"] or {}).get("stanza_id")) for m in summary["members"]}
    assert unread[staff] == (1, second) and unread[owner] == (1, second)
    assert unread[customer][0] == 0, "one's own messages are never unread"
    assert took < 2.0


async def _member_field(api: Api, biz: dict, room: str, stanza: str, member: str, field: str,
                        value: Any = None) -> bool:
    got = by_member(await status_of(api, biz, room, stanza))[member][field]
    return got == value if value is not None else got is not None


async def _overall(api: Api, biz: dict, room: str, stanza: str, wanted: str) -> bool:
    return (await status_of(api, biz, room, stanza))["status"] == wanted


async def test_members_see_their_conversations_only_and_businesses_stay_apart(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz, room, clients = await room_with_people(api, xmpp_clients)
    await join(clients["customer0"], room, "customer")
    stanza = await Member(clients["customer0"], room).say("hello")
    appointment = (await api.call("GET", f"/v1/businesses/{biz['id']}/conversations"))["conversations"][0][
        "appointment"]
    private = await start(api, biz, "staff0", appointment, audience="owner")
    await join(clients["staff0"], private["jid"], "staff")
    private_stanza = await Member(clients["staff0"], private["jid"]).say("about the customer")
    await eventually(lambda: _recorded(api, biz, private["jid"], private_stanza), 2.0)

    customer, staff = biz["people"]["customer0"]["id"], biz["people"]["staff0"]["id"]
    assert (await status_of(api, biz, room, stanza, viewer=customer))["stanza_id"] == stanza
    refused = await status_of(api, biz, private["jid"], private_stanza, viewer=customer, expect=403)
    assert refused["errcode"] == "forbidden"
    assert (await status_of(api, biz, private["jid"], private_stanza, viewer=staff))["status"] in ("sent", "delivered")
    other = await make_business(api, customers=1, staff=1)
    missing = await api.call("GET", f"/v1/businesses/{other['id']}/conversations/{room.split('@')[0]}/messages/"
                                    f"{stanza}/status", expect=404)
    assert missing["errcode"] == "not_found"


async def _recorded(api: Api, biz: dict, room: str, stanza: str) -> bool:
    answer = await api.call("GET", f"/v1/businesses/{biz['id']}/conversations/{room.split('@')[0]}/messages/"
                                   f"{stanza}/status")
    return "members" in answer


async def test_presence_online_idle_and_last_seen(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=1, staff=1)
    staff = biz["people"]["staff0"]
    path = f"/v1/businesses/{biz['id']}/people/{staff['id']}/presence"
    assert (await api.call("GET", path, expect=200))["online"] is False
    client = await xmpp_clients.connect(staff["jid"], staff["password"])
    presence = client.make_presence(pstatus="With a client")
    presence.xml.append(presence.xml.makeelement("{urn:xmpp:idle:1}idle", {"since": "2026-11-25T08:00:00Z"}))
    presence.send()

    async def online() -> bool:
        return (await api.call("GET", path))["online"] is True

    await eventually(online, 2.0)
    state = await api.call("GET", path)
    assert state["status"] == "With a client" and state["idle_since"].startswith("2026-11-25T08:00:00")
    left = time.time()
    client.disconnect()

    async def offline() -> bool:
        return (await api.call("GET", path))["online"] is False

    await eventually(offline, 5.0)
    state = await api.call("GET", path)
    assert state["last_seen_at"] is not None and state["idle_since"] is None
    customer, owner = biz["people"]["customer0"]["id"], biz["people"]["owner"]["id"]
    refused = await api.call("GET", f"{path}?viewer={customer}", expect=403)
    assert refused["errcode"] == "forbidden"
    await api.call("GET", f"/v1/businesses/{biz['id']}/people/{owner}/presence?viewer={customer}", expect=200)
    assert abs(_epoch(state["last_seen_at"]) - left) < 5


def _epoch(iso: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso).timestamp()


async def test_status_survives_a_reconnect_and_people_who_left_meanwhile_are_offline(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz, room, clients = await room_with_people(api, xmpp_clients)
    await join(clients["customer0"], room, "customer")
    stanza = await Member(clients["customer0"], room).say("before the restart")
    await eventually(lambda: _recorded(api, biz, room, stanza), 2.0)
    staff = biz["people"]["staff0"]
    clients["staff0"].send_presence()
    path = f"/v1/businesses/{biz['id']}/people/{staff['id']}/presence"

    async def online() -> bool:
        return (await api.call("GET", path))["online"] is True

    await eventually(online, 2.0)
    link = chat_service.component
    connections = link.state.connections
    link.disconnect(reason="test: the component goes away")
    await eventually(lambda: not_connected(chat_service), 5)
    clients["staff0"].disconnect()  # leaves while nobody watches
    await asyncio.sleep(0.3)
    await eventually(lambda: resynced(chat_service, connections + 1), 20)

    async def offline() -> bool:
        return (await api.call("GET", path))["online"] is False

    await eventually(offline, 5.0)
    assert (await status_of(api, biz, room, stanza))["sender"]["jid"] == biz["people"]["customer0"]["jid"]


async def test_what_was_said_while_the_component_was_away_is_recorded_from_the_archive(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz, room, clients = await room_with_people(api, xmpp_clients)
    staff, owner = biz["people"]["staff0"]["jid"], biz["people"]["owner"]["jid"]
    await join(clients["customer0"], room, "customer")
    await join(clients["staff0"], room, "staff")
    speaker, listener = Member(clients["customer0"], room), Member(clients["staff0"], room)
    before = await speaker.say("before the component goes away")
    await eventually(lambda: _recorded(api, biz, room, before), 2.0)

    link = chat_service.component
    connections = link.state.connections
    await link.stop()  # away until started again
    away_first = await speaker.say("said while nobody records")
    said_at = time.time()
    await asyncio.sleep(1.1)  # the archive's time stamps have whole seconds
    away_second = await speaker.say("and one more")
    listener.mark("displayed", away_first)  # the staff member reads the first one meanwhile
    await asyncio.sleep(0.3)
    link.start()
    await eventually(lambda: resynced(chat_service, connections + 1), 20)
    after = await speaker.say("after the component came back")
    await eventually(lambda: _recorded(api, biz, room, after), 2.0)

    first = await status_of(api, biz, room, away_first)
    assert abs(_epoch(first["sent_at"]) - said_at) < 1.5, "the archive's time, not the time of the back-fill"
    members = by_member(first)
    assert members[staff]["read_at"] is not None and members[staff]["delivered_via"] == "marker"
    assert members[owner]["delivered_at"] is None and members[owner]["read_at"] is None
    second = by_member(await status_of(api, biz, room, away_second))
    assert second[staff]["read_at"] is None
    assert second[staff]["delivered_via"] == "join", "present when the observer came back: delivered then"
    # Recorded in the order they were said: the staff member's read mark is the first message of the
    # absence, and what follows it (the second one and the live one after the return) is unread.
    summary = await api.call("GET", f"/v1/businesses/{biz['id']}/conversations/{room.split('@')[0]}/status",
                             expect=200)
    unread = {m["jid"]: (m["unread"], (m["last_read"] or {}).get("stanza_id")) for m in summary["members"]}
    assert unread[staff] == (2, away_first)
    assert unread[owner] == (4, None)
    assert summary["last_message"]["stanza_id"] == after
    report = chat_service.backfill.last_report
    assert report is not None and report.failed == 0 and report.messages >= 3


async def test_a_read_marker_without_a_store_hint_sent_while_the_component_was_away_is_recorded(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    """Gajim and Converse send room markers without <store/> (Conversations adds one). Prosody archives any
    chat marker; ejabberd 23.01 archives a bodyless message only with <store/>, so our mod_dotimely_markers
    adds it ahead of mod_mam: on both the back-fill finds the marker and records the read. The occupants get
    the marker as it was sent; a bodyless receipt or chat state stays out of the archive (neither server
    archives those)."""
    biz, room, clients = await room_with_people(api, xmpp_clients)
    staff = biz["people"]["staff0"]["jid"]
    for key, nick in (("customer0", "customer"), ("staff0", "staff"), ("owner", "owner")):
        await join(clients[key], room, nick)
    speaker, listener = Member(clients["customer0"], room), Member(clients["staff0"], room)
    owner_inbox = Inbox(clients["owner"])
    before = await speaker.say("before the component goes away")
    await eventually(lambda: _recorded(api, biz, room, before), 2.0)

    link = chat_service.component
    connections = link.state.connections
    await link.stop()
    away = await speaker.say("said while nobody records")
    since = owner_inbox.mark()
    marker = listener.mark("displayed", away, store=False)  # as Gajim sends it
    receipt = _bodyless(listener, f"{{{RECEIPTS}}}received", {"id": away})
    chat_state = _bodyless(listener, f"{{{CHAT_STATES}}}active", {})

    def the_marker(stanza: StanzaBase) -> bool:
        return stanza.name == "message" and stanza["id"] == marker and stanza["from"] == f"{room}/staff"

    the_marker.__doc__ = "the staff member's displayed marker, from the room"
    broadcast = await owner_inbox.wait_for(the_marker, since=since)
    assert [e.get("id") for e in broadcast.xml.findall(f"{{{MARKERS}}}displayed")] == [away]
    assert broadcast.xml.find(f"{{{HINTS}}}store") is None, "the occupants get the marker as it was sent"
    for other in (receipt, chat_state):  # sent after the marker: through the room by the time it is back
        await owner_inbox.wait_for(lambda s, i=other: s.name == "message" and s["id"] == i, since=since)
    link.start()
    await eventually(lambda: resynced(chat_service, connections + 1), 20)

    await eventually(lambda: _recorded(api, biz, room, away), 2.0)
    await eventually(lambda: _member_field(api, biz, room, away, staff, "read_at"), 2.0)
    assert by_member(await status_of(api, biz, room, away))[staff]["delivered_via"] == "marker"
    archived = {m.message_id: m async for m in archived_messages(chat_service.component, room)}
    assert marker in archived and archived[marker].sender_jid == staff
    assert receipt not in archived and chat_state not in archived, "bodyless receipts and chat states stay out"


def _bodyless(member: Member, tag: str, attributes: dict[str, str]) -> str:
    """Send a groupchat message to the member's room with one child and no hint; return its id."""
    message = member.client.make_message(mto=member.room, mtype="groupchat")
    message["id"] = uuid.uuid4().hex
    message.xml.append(message.xml.makeelement(tag, attributes))
    message.send()
    return str(message["id"])


async def test_message_status_command_shows_who_read_what(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz, room, clients = await room_with_people(api, xmpp_clients)
    await join(clients["customer0"], room, "customer")
    await join(clients["staff0"], room, "staff")
    stanza = await Member(clients["customer0"], room).say("see you tomorrow")
    await eventually(lambda: _recorded(api, biz, room, stanza), 2.0)
    Member(clients["staff0"], room).mark("displayed", stanza)
    await eventually(lambda: _member_field(api, biz, room, stanza, biz["people"]["staff0"]["jid"], "read_at"), 2.0)

    customer = biz["people"]["customer0"]
    client = await xmpp_clients.connect(customer["jid"], customer["password"], "xep_0050")
    adhoc = client.plugin["xep_0050"]
    component = chat_service.config.component.jid
    first = await adhoc.send_command(component, "message-status", timeout=10)
    form = first["command"]["form"]
    option = next(o for o in form.get_fields()["message"].get_options() if o["value"].endswith(stanza))
    form["type"] = "submit"
    form.set_values({"message": option["value"]})
    done = await adhoc.send_command(component, "message-status", sessionid=first["command"]["sessionid"],
                                    action="complete", payload=form, timeout=10)
    rows = {item["name"]: item for item in done["command"]["form"]["items"]}
    assert rows["Stan Staff0"]["read"] != "-" and rows["Olga Owner"]["read"] == "-"

    stranger, password = xmpp_clients.account()
    nobody = await xmpp_clients.connect(stranger, password, "xep_0050")
    with pytest.raises(IqError) as refused:
        await nobody.plugin["xep_0050"].send_command(component, "message-status", timeout=10)
    assert refused.value.condition == "item-not-found"


async def test_status_answers_follow_a_membership_change_at_once(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz, room, _ = await room_with_people(api, xmpp_clients, staff=2)
    old, new, customer = (biz["people"][k] for k in ("staff0", "staff1", "customer0"))
    path = f"/v1/businesses/{biz['id']}/conversations/{room.split('@')[0]}/status"
    before = {m["jid"] for m in (await api.call("GET", path, expect=200))["members"]}
    assert old["jid"] in before and new["jid"] not in before
    await api.call("GET", f"{path}?viewer={old['id']}", expect=200)
    appointment = (await api.call("GET", f"/v1/businesses/{biz['id']}/conversations", expect=200)
                   )["conversations"][0]["appointment"]
    await api.call("PUT", f"/v1/businesses/{biz['id']}/appointments/{appointment}", {
        "customer": customer["id"], "staff": new["id"], "starts_at": "2030-01-01T10:00:00+00:00",
        "duration_minutes": 30, "service_name": "Haircut"}, expect=200)
    after = {m["jid"] for m in (await api.call("GET", path, expect=200))["members"]}
    assert new["jid"] in after and old["jid"] not in after, "not the members cached before the change"
    await api.call("GET", f"{path}?viewer={old['id']}", expect=403)
    await api.call("GET", f"{path}?viewer={new['id']}", expect=200)


async def test_the_conversations_list_puts_the_room_with_the_latest_message_first(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz, older, clients = await room_with_people(api, xmpp_clients)
    newer = (await start(api, biz, "customer0", await book(api, biz, days=2)))["jid"]
    path = f"/v1/businesses/{biz['id']}/conversations"

    async def first() -> str:
        return str((await api.call("GET", path, expect=200))["conversations"][0]["jid"])

    assert await first() == newer, "the newest room first while nobody spoke"
    await join(clients["customer0"], older, "customer")
    await Member(clients["customer0"], older).say("a question about the older appointment")
    await eventually(lambda: _is(first, older), 2.0)


async def _is(get: Any, wanted: str) -> bool:
    return bool(await get() == wanted)


async def test_a_delay_stamp_a_client_adds_neither_hides_its_message_nor_dates_it(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    """PRODUCT.md §8: trust only what the server stamped. The observer takes a <delay from=room> for the
    room's history replay and skips it; that is safe because Prosody 0.12 strips a client's delay claiming
    to be from the room (muc.lib.lua). Checked here, since the observer relies on it."""
    biz, room, clients = await room_with_people(api, xmpp_clients)
    await join(clients["customer0"], room, "customer")
    speaker = Member(clients["customer0"], room)
    message = speaker.client.make_message(mto=room, mbody="from the past?", mtype="groupchat")
    message["id"] = uuid.uuid4().hex
    message.xml.append(message.xml.makeelement("{urn:xmpp:delay}delay",
                                               {"from": room, "stamp": "2001-01-01T00:00:00Z"}))
    said_at = time.time()
    message.send()
    await eventually(lambda: _wait(message["id"] in speaker.echoes), 10)
    stanza = speaker.echoes[message["id"]]
    await eventually(lambda: _recorded(api, biz, room, stanza), 5.0)
    assert abs(_epoch((await status_of(api, biz, room, stanza))["sent_at"]) - said_at) < 5


async def _wait(condition: bool) -> bool:
    return condition
