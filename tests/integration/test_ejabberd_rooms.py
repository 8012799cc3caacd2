"""What ejabberd 23.01 does differently in appointment rooms, on the session node (generated config) with real
clients over verified TLS: the owner form in ejabberd's dialect, the actor named by nick, a removal as presence
321, a removed member kept out, markers archived with or without `<store/>` (mod_dotimely_markers), a forged
`<delay>`, room MAM read as a service admin with real JIDs and microsecond stamps.

The room layer is driven directly (the component link, MucRooms, MucArchive; the status recorder is a stand-in
that records what the observer hands it). The whole service on both servers: test_rooms.py, test_status.py,
test_muc_gateway.py, test_muc_archive.py and test_export.py (the `servers` marker).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from slixmpp import ClientXMPP
from slixmpp.xmlstream import StanzaBase

from dotimely_chat.component.link import ChatComponent
from dotimely_chat.component.muc import AffiliationChange, MucRooms
from dotimely_chat.component.muc_archive import MucArchive
from dotimely_chat.servers.ejabberd_accounts import EjabberdAccounts, EjabberdAdminApi
from dotimely_chat.servers.ejabberd_process import EjabberdProcess
from dotimely_chat.servers.prosody_config import observer_jid
from dotimely_chat.services.ports import Mark

from ..support.config import DOMAIN
from ..support.ejabberd import login
from ..support.people import Inbox

MUC = "http://jabber.org/protocol/muc"
DATA = "jabber:x:data"
MARKERS = "urn:xmpp:chat-markers:0"
HINTS = "urn:xmpp:hints"
WAIT = 5.0
EVENT_DEADLINE = 2.0  # PRODUCT.md §2.3: foreign changes are reverted within 2 s, so heard well before


@pytest.fixture
def node(ejabberd_server: EjabberdProcess) -> EjabberdProcess:
    """The session's ejabberd node (tests/conftest.py)."""
    return ejabberd_server


@pytest.fixture
async def accounts(node: EjabberdProcess) -> AsyncIterator[EjabberdAccounts]:
    api = EjabberdAdminApi(node.api_url)
    yield EjabberdAccounts(api)
    await api.close()


@pytest.fixture
async def component(node: EjabberdProcess) -> AsyncIterator[ChatComponent]:
    link = ChatComponent(node.config)
    link.start()
    try:
        assert await link.wait_connected(15), link.state
        yield link
    finally:
        await link.stop()


class StatusSeen:
    """Stands in for services.status.StatusRecorder: what the observer hands the recorder, in order."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str, str | None, str | None]] = []  # room, sender, stanza-id, message id
        self.marks: list[tuple[str, str, Mark]] = []
        self.occupancy: list[tuple[str, str, bool]] = []
        self.changed = asyncio.Event()

    def message_said(self, room_jid: str, sender: str, stanza_id: str | None, origin_id: str | None,
                     message_id: str | None, attachment: bool) -> None:
        self.said.append((room_jid, sender, stanza_id, message_id))
        self.changed.set()

    def marked(self, room_jid: str, sender: str, mark: Mark) -> None:
        self.marks.append((room_jid, sender, mark))
        self.changed.set()

    def occupant(self, room_jid: str, jid: str, present: bool) -> None:
        self.occupancy.append((room_jid, jid, present))
        self.changed.set()

    def left_all_rooms(self) -> None:
        pass

    async def until(self, check: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + WAIT
        while not (found := check()):
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the observer handed the recorder no {what} within {WAIT} s")
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                pass
        return found


@pytest.fixture
async def rooms(component: ChatComponent, node: EjabberdProcess) -> tuple[MucRooms, StatusSeen]:
    muc = MucRooms(component, node.config.muc.host, observer_jid(node.config))
    seen = StatusSeen()
    muc.record_status(seen)  # type: ignore[arg-type]
    return muc, seen


class Client:
    def __init__(self, jid: str, client: ClientXMPP) -> None:
        self.jid, self.client, self.inbox = jid, client, Inbox(client)


@pytest.fixture
async def people(node: EjabberdProcess, accounts: EjabberdAccounts) -> AsyncIterator[Callable[..., Any]]:
    """log_in(name) -> a logged-in client of a new account."""
    clients: list[ClientXMPP] = []

    async def log_in(name: str) -> Client:
        jid = f"{name}-{secrets.token_hex(3)}@{DOMAIN}"
        password = secrets.token_urlsafe(12)
        await accounts.ensure_account(jid, password)
        client = await login(node, jid, password)
        assert client is not None, f"{jid} could not log in"
        clients.append(client)
        person = Client(jid, client)
        client.send_presence()
        return person

    yield log_in
    for client in clients:
        client.disconnect()
    await asyncio.sleep(0)


def new_room(node: EjabberdProcess) -> str:
    return f"appt-{secrets.token_hex(6)}@{node.config.muc.host}"


def codes(stanza: StanzaBase) -> set[int]:
    x = stanza.xml.find(f"{{{MUC}#user}}x")
    return {int(s.get("code", "0")) for s in x.findall(f"{{{MUC}#user}}status")} if x is not None else set()


async def enter(person: Client, room: str, nick: str) -> StanzaBase:
    """Join as a client; returns our own presence, or the error presence."""
    since = person.inbox.mark()
    presence = person.client.make_presence(pto=f"{room}/{nick}")
    ET.SubElement(ET.SubElement(presence.xml, f"{{{MUC}}}x"), f"{{{MUC}}}history", maxstanzas="0")
    presence.send()

    def own_presence(s: StanzaBase) -> bool:
        return s.name == "presence" and s["from"].bare == room and (s["type"] == "error" or 110 in codes(s))

    own_presence.__doc__ = f"our own presence in {room}"
    return await person.inbox.wait_for(own_presence, WAIT, since=since)


async def say(person: Client, room: str, body: str) -> StanzaBase:
    """A groupchat message; returns the room's echo (with the room's stanza-id)."""
    since = person.inbox.mark()
    message = person.client.make_message(mto=room, mbody=body, mtype="groupchat")
    message["id"] = f"m-{secrets.token_hex(6)}"
    message.send()

    def echo(s: StanzaBase) -> bool:
        return s.name == "message" and s["id"] == message["id"] and s["from"].bare == room

    echo.__doc__ = f"the echo of {body!r}"
    return await person.inbox.wait_for(echo, WAIT, since=since)


async def send_marker(person: Client, room: str, reference: str, store: bool) -> StanzaBase:
    """A bodyless XEP-0333 displayed marker to the room (with the XEP-0334 store hint Conversations adds);
    returns the room's echo of it (so markers of two people reach the room in the order the test sends them)."""
    since = person.inbox.mark()
    message = person.client.make_message(mto=room, mtype="groupchat")
    message["id"] = f"mark-{secrets.token_hex(6)}"
    ET.SubElement(message.xml, f"{{{MARKERS}}}displayed", id=reference)
    if store:
        ET.SubElement(message.xml, f"{{{HINTS}}}store")
    message.send()

    def echo(s: StanzaBase) -> bool:
        return s.name == "message" and s["id"] == message["id"] and s["from"].bare == room

    echo.__doc__ = f"the echo of the marker of {reference}"
    return await person.inbox.wait_for(echo, WAIT, since=since)


def room_stanza_id(stanza: StanzaBase, room: str) -> str:
    ids = [e.get("id", "") for e in stanza.xml.findall("{urn:xmpp:sid:0}stanza-id") if e.get("by") == room]
    assert ids, f"no stanza-id by {room} on {stanza}"
    return ids[0]


async def owner_form(component: ChatComponent, node: EjabberdProcess, room: str) -> dict[str, list[str]]:
    iq = component.make_iq_get(ito=room, ifrom=observer_jid(node.config))
    iq.append(ET.Element(f"{{{MUC}#owner}}query"))
    reply = await iq.send(timeout=WAIT)
    return {f.get("var", ""): [v.text or "" for v in f.findall(f"{{{DATA}}}value")]
            for f in reply.xml.iter(f"{{{DATA}}}field") if f.get("var")}


def admin_query(jid: str, affiliation: str) -> ET.Element:
    query = ET.Element(f"{{{MUC}#admin}}query")
    ET.SubElement(query, f"{{{MUC}#admin}}item", jid=jid, affiliation=affiliation)
    return query


async def client_iq(person: Client, to: str, itype: str, payload: ET.Element) -> StanzaBase:
    iq = person.client.make_iq(ito=to, itype=itype)  # type: ignore[arg-type]
    iq.append(payload)
    try:
        return await iq.send(timeout=WAIT)
    except Exception as exc:  # IqError: the error reply is what the test looks at
        reply = getattr(exc, "iq", None)
        if reply is None:
            raise
        return reply  # type: ignore[no-any-return]


def heard(muc: MucRooms) -> asyncio.Queue[AffiliationChange | str]:
    """Affiliation changes and configuration changes (as the room JID) heard by the observer."""
    queue: asyncio.Queue[AffiliationChange | str] = asyncio.Queue()

    async def on_change(change: AffiliationChange) -> None:
        queue.put_nowait(change)

    async def on_config(room: str) -> None:
        queue.put_nowait(room)

    muc.on_affiliation_change(on_change)
    muc.on_config_change(on_config)
    return queue


async def next_heard(queue: asyncio.Queue[AffiliationChange | str]) -> AffiliationChange | str:
    try:
        return await asyncio.wait_for(queue.get(), EVENT_DEADLINE)
    except TimeoutError:
        raise AssertionError(f"the observer heard no change within {EVENT_DEADLINE} s") from None


# ------------------------------------------------------------------------------------------- rooms
async def test_a_room_is_created_in_ejabberds_dialect_and_the_component_owns_it_alone(
        node: EjabberdProcess, component: ChatComponent, rooms: tuple[MucRooms, StatusSeen]) -> None:
    muc, _ = rooms
    room = new_room(node)
    assert await muc.open_room(room, "Haircut with Ann", "Cut, Mon 09:00") is True
    form = await owner_form(component, node, room)
    assert form["muc#roomconfig_roomname"] == ["Haircut with Ann"]
    assert form["muc#roomconfig_roomdesc"] == ["Cut, Mon 09:00"]
    for var, value in {"muc#roomconfig_membersonly": "1", "muc#roomconfig_persistentroom": "1",
                       "muc#roomconfig_publicroom": "0", "mam": "1", "allow_private_messages": "0",
                       "muc#roomconfig_allowinvites": "0", "muc#roomconfig_changesubject": "0",
                       "muc#roomconfig_moderatedroom": "0"}.items():
        assert [v.replace("true", "1").replace("false", "0") for v in form[var]] == [value], var
    assert form["muc#roomconfig_whois"] == ["anyone"]
    assert await muc.open_room(room, "Haircut with Ann", "Cut, Mon 09:00") is False  # idempotent
    assert await muc.ensure_config(room, "Haircut with Ann", "Cut, Mon 09:00") == []
    # The creator (the observer) is the one stored owner; nobody else has an affiliation yet.
    assert await muc.get_affiliations(room) == {observer_jid(node.config): "owner"}


async def test_members_join_and_talk_and_strangers_cannot_join(
        node: EjabberdProcess, rooms: tuple[MucRooms, StatusSeen], people: Callable[..., Any]) -> None:
    muc, seen = rooms
    room = new_room(node)
    await muc.open_room(room, "Colour", "")
    customer, staff, stranger = await people("cust"), await people("staff"), await people("stranger")
    await muc.set_affiliation(room, customer.jid, "member")
    await muc.set_affiliation(room, staff.jid, "member")
    assert await muc.get_affiliations(room) == {observer_jid(node.config): "owner", customer.jid: "member",
                                                 staff.jid: "member"}
    refused = await enter(stranger, room, "Eve")
    assert refused["type"] == "error" and refused["error"]["condition"] == "registration-required"
    assert (await enter(customer, room, "Cathy"))["type"] != "error"
    assert (await enter(staff, room, "Sam"))["type"] != "error"
    since = staff.inbox.mark()
    echo = await say(customer, room, "Is 9 still fine?")
    await staff.inbox.wait_for(lambda s: s["body"] == "Is 9 still fine?", WAIT, since=since)
    stanza_id = room_stanza_id(echo, room)
    said = await seen.until(lambda: [s for s in seen.said if s[0] == room], "message")
    assert said == [(room, customer.jid, stanza_id, echo["id"])]  # the real bare JID, the room's stanza-id
    assert (room, customer.jid, True) in seen.occupancy and (room, staff.jid, True) in seen.occupancy
    # A private message is refused by the room (allow_private_messages false).
    since = customer.inbox.mark()
    customer.client.send_message(mto=f"{room}/Sam", mbody="psst", mtype="chat")
    error = await customer.inbox.wait_for(lambda s: s["type"] == "error", WAIT, since=since)
    assert error.xml.find("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}not-acceptable") is not None \
        or error.xml.find("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}forbidden") is not None, error


async def test_live_markers_and_receipts_reach_the_recorder_with_or_without_a_store_hint(
        node: EjabberdProcess, rooms: tuple[MucRooms, StatusSeen], people: Callable[..., Any]) -> None:
    muc, seen = rooms
    room = new_room(node)
    await muc.open_room(room, "Markers", "")
    customer, staff = await people("cust"), await people("staff")
    for person, nick in ((customer, "Cathy"), (staff, "Sam")):
        await muc.set_affiliation(room, person.jid, "member")
        await enter(person, room, nick)
    stanza_id = room_stanza_id(await say(customer, room, "Hello"), room)
    await send_marker(staff, room, stanza_id, store=False)
    await send_marker(staff, room, stanza_id, store=True)
    receipt = customer.client.make_message(mto=room, mtype="groupchat")  # XEP-0184, bodyless, no hint
    ET.SubElement(receipt.xml, "{urn:xmpp:receipts}received", id=stanza_id)
    receipt.send()
    marks = await seen.until(lambda: len([m for m in seen.marks if m[0] == room]) >= 3 and seen.marks, "markers")
    assert [m for m in marks if m[0] == room] == [(room, staff.jid, Mark("displayed", stanza_id))] * 2 + [
        (room, customer.jid, Mark("receipt", stanza_id))]


async def test_our_own_affiliation_changes_are_not_reported_and_others_are(
        node: EjabberdProcess, component: ChatComponent, rooms: tuple[MucRooms, StatusSeen],
        people: Callable[..., Any]) -> None:
    muc, _ = rooms
    queue = heard(muc)
    room = new_room(node)
    await muc.open_room(room, "Bans", "")
    owner, customer, staff = await people("owner"), await people("cust"), await people("staff")
    await muc.set_affiliation(room, owner.jid, "admin")
    await muc.set_affiliation(room, customer.jid, "member")
    await muc.set_affiliation(room, staff.jid, "member")
    await enter(owner, room, "Olga")
    await enter(customer, room, "Cathy")
    await asyncio.sleep(0.3)
    assert queue.empty(), "our own changes are not reported"

    # The business owner (a room admin) bans an occupant: a presence with status 301 and the actor.
    assert (await client_iq(owner, room, "set", admin_query(customer.jid, "outcast")))["type"] == "result"
    change = await next_heard(queue)
    assert isinstance(change, AffiliationChange), change
    assert (change.jid, change.affiliation, change.in_room, change.actor) == (customer.jid, "outcast", True,
                                                                              owner.jid)
    assert 301 in change.status_codes
    # ... and demotes a member who is not in the room: a bodyless message from the room, no actor.
    assert (await client_iq(owner, room, "set", admin_query(staff.jid, "none")))["type"] == "result"
    change = await next_heard(queue)
    assert isinstance(change, AffiliationChange), change
    assert (change.jid, change.affiliation, change.in_room, change.actor) == (staff.jid, "none", False, None)
    # The component cannot be demoted by a room admin.
    refused = await client_iq(owner, room, "set", admin_query(observer_jid(node.config), "none"))
    assert refused["type"] == "error"
    # Putting things back is ours again.
    await muc.set_affiliation(room, customer.jid, "member")
    await muc.set_affiliation(room, staff.jid, "member")
    await asyncio.sleep(0.3)
    assert queue.empty(), [queue.get_nowait() for _ in range(queue.qsize())]


# ------------------------------------------------------------------------------------------- archive
async def test_the_room_archive_is_read_without_joining_with_real_jids_and_microseconds(
        node: EjabberdProcess, component: ChatComponent, rooms: tuple[MucRooms, StatusSeen],
        people: Callable[..., Any]) -> None:
    muc, _ = rooms
    room = new_room(node)
    await muc.open_room(room, "Archive", "")
    customer, staff = await people("cust"), await people("staff")
    for person, nick in ((customer, "Cathy"), (staff, "Sam")):
        await muc.set_affiliation(room, person.jid, "member")
        await enter(person, room, nick)
    first = await say(customer, room, "one")
    second = await say(staff, room, "two")
    first_id, second_id = room_stanza_id(first, room), room_stanza_id(second, room)
    await send_marker(customer, room, second_id, store=False)   # archived: mod_dotimely_markers hints it for mod_mam
    await send_marker(staff, room, first_id, store=True)        # archived: it has the store hint
    unwanted = customer.client.make_message(mto=room, mtype="groupchat")
    ET.SubElement(unwanted.xml, f"{{{MARKERS}}}received", id=first_id)
    ET.SubElement(unwanted.xml, f"{{{HINTS}}}no-store")  # the client's no-store wins, as on Prosody
    unwanted.send()
    await muc.send_notice(room, "A notice")
    await asyncio.sleep(0.3)
    await muc.leave(room)

    archive = MucArchive(component)  # the component's bare JID: a service admin, never joined
    messages = [m async for m in archive.messages(room)]
    said = [(m.sender_jid, m.nick, m.body) for m in messages if m.body]
    assert said == [(customer.jid, "Cathy", "one"), (staff.jid, "Sam", "two"),
                    (observer_jid(node.config), "DoTimely", "A notice")]
    assert [m.stanza_id for m in messages if m.body][:2] == [first_id, second_id]
    assert [(m.sender_jid, m.markers) for m in messages if m.markers] == [
        (customer.jid, (Mark("displayed", second_id),)), (staff.jid, (Mark("displayed", first_id),))]
    stamps = [m.sent_at for m in messages]
    assert stamps == sorted(stamps) and all(s.tzinfo is not None for s in stamps)
    assert any(s.microsecond for s in stamps), "ejabberd stamps its archive to the microsecond"
    # Paging and time bounds.
    assert [m.stanza_id async for m in archive.messages(room, page_size=1)] == [m.stanza_id for m in messages]
    assert [m.stanza_id async for m in archive.messages(room, after_id=first_id)] == [
        m.stanza_id for m in messages[1:]]
    later = [m async for m in archive.messages(room, start=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))]
    assert later == []
    # An end bound within the second of the last message keeps it (bounds are asked in whole seconds).
    last = messages[-1].sent_at
    assert [m.stanza_id async for m in archive.messages(room, start=messages[0].sent_at, end=last)] == [
        m.stanza_id for m in messages]


async def test_a_member_removed_while_in_the_room_is_heard_as_presence_321(
        node: EjabberdProcess, rooms: tuple[MucRooms, StatusSeen], people: Callable[..., Any]) -> None:
    muc, seen = rooms
    queue = heard(muc)
    room = new_room(node)
    await muc.open_room(room, "Removal", "")
    owner, customer = await people("owner"), await people("cust")
    await muc.set_affiliation(room, owner.jid, "admin")
    await muc.set_affiliation(room, customer.jid, "member")
    await enter(owner, room, "Olga")
    await enter(customer, room, "Cathy")
    assert (await client_iq(owner, room, "set", admin_query(customer.jid, "none")))["type"] == "result"
    change = await next_heard(queue)
    assert isinstance(change, AffiliationChange), change
    assert (change.jid, change.affiliation, change.in_room, change.actor) == (customer.jid, "none", True, owner.jid)
    assert 321 in change.status_codes
    await seen.until(lambda: (room, customer.jid, False) in seen.occupancy, "departure")


async def test_a_delay_a_client_claims_from_the_room_does_not_hide_its_message(
        node: EjabberdProcess, rooms: tuple[MucRooms, StatusSeen], people: Callable[..., Any]) -> None:
    """The observer skips history replays by the room's own <delay>: a member must not forge one."""
    muc, seen = rooms
    room = new_room(node)
    await muc.open_room(room, "Delay", "")
    customer = await people("cust")
    await muc.set_affiliation(room, customer.jid, "member")
    await enter(customer, room, "Cathy")
    message = customer.client.make_message(mto=room, mbody="backdated", mtype="groupchat")
    message["id"] = f"m-{secrets.token_hex(6)}"
    ET.SubElement(message.xml, "{urn:xmpp:delay}delay", {"from": room, "stamp": "2020-01-01T00:00:00Z"})
    message.send()
    said = await seen.until(lambda: [s for s in seen.said if s[0] == room], "message")
    assert said[0][1] == customer.jid and said[0][3] == message["id"]


async def test_a_member_whose_affiliation_is_removed_cannot_enter_again(
        node: EjabberdProcess, rooms: tuple[MucRooms, StatusSeen], people: Callable[..., Any]) -> None:
    """In a moderated room ejabberd 23.01 let them in as a participant with affiliation none (muc_config.py)."""
    muc, _ = rooms
    room = new_room(node)
    await muc.open_room(room, "Removed", "")
    staff = await people("staff")
    await muc.set_affiliation(room, staff.jid, "member")
    await muc.set_affiliation(room, staff.jid, "none")
    assert staff.jid not in await muc.get_affiliations(room)
    refused = await enter(staff, room, "Stan")
    assert refused["type"] == "error" and refused["error"]["condition"] == "registration-required", refused
