"""MucRooms, the component's gateway to Prosody's MUC service and to users' PEP bookmarks, against the real
server (generated config) with real clients over verified TLS. People come from the directory API, so they
have the component in their roster as the product gives it to them."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
import pytest
from slixmpp import JID, ClientXMPP
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import StanzaBase

from dotimely_chat.app import ChatService
from dotimely_chat.component.muc import AffiliationChange, BookmarkError, MucError, MucRooms
from dotimely_chat.component.muc_config import RoomForm, room_form
from dotimely_chat.servers.prosody_config import observer_jid

from ..support.business import Api, make_business
from ..support.clients import ClientFactory
from ..support.people import Person, Session, log_in

pytestmark = pytest.mark.servers("prosody", "ejabberd")
# PepBookmarks needs an IQ privilege ejabberd 23.01 does not grant: servers.ejabberd_pep.EjabberdBookmarks
# (tests/integration/test_ejabberd_pep.py) stands in for it there.
pep_bookmarks_only = pytest.mark.servers("prosody")


def room_form_of(service: ChatService) -> RoomForm:
    """The owner-form dialect of the service's server (component/muc_config.py)."""
    return room_form(service.config.xmpp.server)


def as_flag(values: list[str]) -> str:
    """A boolean field's value as '1'/'0' (Prosody shows a false boolean without a value, ejabberd as 'false')."""
    return "1" if values and values[0] in ("1", "true") else "0"

MUC = "http://jabber.org/protocol/muc"
DATA = "jabber:x:data"
PUBSUB = "http://jabber.org/protocol/pubsub"
BOOKMARKS = "urn:xmpp:bookmarks:1"
WAIT = 5.0
EVENT_DEADLINE = 2.0  # PRODUCT.md §2.3: foreign changes are reverted within 2 s, so heard well before


@pytest.fixture
async def rooms(chat_service: ChatService) -> MucRooms:
    return MucRooms(chat_service.component, chat_service.config.muc.host, observer_jid(chat_service.config))


@pytest.fixture
async def people(chat_service: ChatService) -> AsyncIterator[dict[str, Person]]:
    """An owner, a staff member and a customer made through the directory API."""
    async with aiohttp.ClientSession() as http:
        business = await make_business(Api(chat_service, http), customers=1, staff=1)
    yield {key: Person(p["jid"], p["password"], p["role"], p["display_name"])
           for key, p in business["people"].items()}


def new_room(service: ChatService) -> str:
    return f"appt-{secrets.token_hex(6)}@{service.config.muc.host}"


def codes(stanza: StanzaBase) -> set[int]:
    x = stanza.xml.find(f"{{{MUC}#user}}x")
    return {int(s.get("code", "0")) for s in x.findall(f"{{{MUC}#user}}status")} if x is not None else set()


def muc_item(stanza: StanzaBase) -> dict[str, str]:
    item = stanza.xml.find(f"{{{MUC}#user}}x/{{{MUC}#user}}item")
    return dict(item.attrib) if item is not None else {}


async def enter(session: Session, room: str, nick: str) -> StanzaBase:
    """Join as a client; returns our own presence, or the error presence."""
    since = session.inbox.mark()
    presence = session.client.make_presence(pto=f"{room}/{nick}")
    presence.append(ET.Element(f"{{{MUC}}}x"))
    presence.send()

    def own_presence(s: StanzaBase) -> bool:
        return s.name == "presence" and s["from"].bare == room and (s["type"] == "error" or 110 in codes(s))

    own_presence.__doc__ = f"our own presence in {room}"
    return await session.inbox.wait_for(own_presence, WAIT, since=since)


async def client_iq(client: ClientXMPP, to: str, itype: str, payload: ET.Element) -> StanzaBase:
    iq = client.make_iq(ito=to, itype=itype)  # type: ignore[arg-type]
    iq.append(payload)
    return await iq.send(timeout=WAIT)


def admin_item(jid: str, affiliation: str) -> ET.Element:
    query = ET.Element(f"{{{MUC}#admin}}query")
    ET.SubElement(query, f"{{{MUC}#admin}}item", jid=jid, affiliation=affiliation)
    return query


async def owner_form(service: ChatService, room: str) -> dict[str, list[str]]:
    """The room's configuration as the observer reads it."""
    iq = service.component.make_iq_get(ito=room, ifrom=observer_jid(service.config))
    iq.append(ET.Element(f"{{{MUC}#owner}}query"))
    reply = await iq.send(timeout=WAIT)
    return {f.get("var", ""): [v.text or "" for v in f.findall(f"{{{DATA}}}value")]
            for f in reply.xml.iter(f"{{{DATA}}}field") if f.get("var")}


def recorder(rooms: MucRooms) -> tuple[asyncio.Queue[AffiliationChange], asyncio.Queue[str]]:
    changes: asyncio.Queue[AffiliationChange] = asyncio.Queue()
    configs: asyncio.Queue[str] = asyncio.Queue()

    async def on_change(change: AffiliationChange) -> None:
        changes.put_nowait(change)

    async def on_config(room: str) -> None:
        configs.put_nowait(room)

    rooms.on_affiliation_change(on_change)
    rooms.on_config_change(on_config)
    return changes, configs


async def next_change(changes: asyncio.Queue[AffiliationChange], room: str,
                      match: Callable[[AffiliationChange], bool]) -> tuple[AffiliationChange, float]:
    started = time.monotonic()
    while True:
        remaining = EVENT_DEADLINE - (time.monotonic() - started)
        try:
            change = await asyncio.wait_for(changes.get(), max(remaining, 0.01))
        except TimeoutError:
            raise AssertionError(f"no matching affiliation change in {room} within {EVENT_DEADLINE} s") from None
        if change.room_jid == room and match(change):
            return change, time.monotonic() - started


# ------------------------------------------------------------------------------------------- rooms
async def test_open_room_creates_a_configured_room_and_is_idempotent(
        chat_service: ChatService, rooms: MucRooms, people: dict[str, Person], xmpp_clients: ClientFactory) -> None:
    room = new_room(chat_service)
    assert await rooms.open_room(room, "Haircut - Cathy - Tue 10:00", "Haircut with Stan") is True
    assert room in rooms.joined_rooms()

    form = await owner_form(chat_service, room)
    assert form["muc#roomconfig_roomname"] == ["Haircut - Cathy - Tue 10:00"]
    assert form["muc#roomconfig_roomdesc"] == ["Haircut with Stan"]
    assert form["muc#roomconfig_whois"] == ["anyone"]
    fixed = room_form_of(chat_service).fixed  # membersonly, persistent, public, archiving, invites, subject...
    assert {var: as_flag(form[var]) for var, value in fixed.items() if isinstance(value, bool) and var in form} == {
        var: "1" if value else "0" for var, value in fixed.items() if isinstance(value, bool) and var in form}
    assert as_flag(form[room_form_of(chat_service).archiving]) == "1"

    # What a member's client sees (and the room is unlocked: it answers disco#info to its members).
    await rooms.set_affiliation(room, people["customer0"].jid, "member")
    customer = await log_in(xmpp_clients, people["customer0"])
    info = await customer.client.plugin["xep_0030"].get_info(jid=JID(room), timeout=WAIT)
    features = set(info["disco_info"]["features"])
    assert {"muc_membersonly", "muc_nonanonymous", "muc_hidden", "muc_persistent"} <= features, features
    assert [identity[3] for identity in info["disco_info"]["identities"]] == ["Haircut - Cathy - Tue 10:00"]

    assert await rooms.ensure_config(room, "Haircut - Cathy - Tue 10:00", "Haircut with Stan") == []
    assert await rooms.open_room(room, "Haircut - Cathy - Tue 10:00", "Haircut with Stan") is False
    other = new_room(chat_service)  # concurrent opens of one room: one creates it, the other joins it
    assert sorted(await asyncio.gather(*(rooms.open_room(other, "Twice") for _ in range(3)))) == [False, False, True]
    assert await rooms.ensure_config(room, "Haircut - Cathy - Wed 11:00", "Haircut with Stan") == [
        "muc#roomconfig_roomname"]
    assert (await owner_form(chat_service, room))["muc#roomconfig_roomname"] == ["Haircut - Cathy - Wed 11:00"]


async def test_ensure_config_repairs_a_room_changed_behind_our_back_and_the_change_is_reported(
        chat_service: ChatService, rooms: MucRooms) -> None:
    changes, configs = recorder(rooms)
    room = new_room(chat_service)
    await rooms.open_room(room, "Colour", "")
    fresh_form = await owner_form(chat_service, room)
    assert configs.empty(), "our own configuration is not reported"

    # A server administrator (the component's bare JID is one too) changes every field we care about.
    offered = fresh_form.keys()
    tampered = {var: ("0" if value else "1") for var, value in room_form_of(chat_service).fixed.items()
                if isinstance(value, bool) and var in offered}
    tampered |= {"muc#roomconfig_whois": "moderators", "muc#roomconfig_roomname": "Renamed",
                 "muc#roomconfig_roomdesc": "Described"}
    query = ET.Element(f"{{{MUC}#owner}}query")
    form = ET.SubElement(query, f"{{{DATA}}}x", type="submit")
    for var, value in {"FORM_TYPE": "http://jabber.org/protocol/muc#roomconfig", **tampered}.items():
        ET.SubElement(ET.SubElement(form, f"{{{DATA}}}field", var=var), f"{{{DATA}}}value").text = value
    iq = chat_service.component.make_iq_set(ito=room, ifrom=chat_service.component.boundjid.bare)
    iq.append(query)
    await iq.send(timeout=WAIT)
    assert await asyncio.wait_for(configs.get(), EVENT_DEADLINE) == room
    now = await owner_form(chat_service, room)
    assert {var: as_flag(now[var]) if tampered[var] in "01" else now[var][0] for var in tampered} == tampered

    assert sorted(await rooms.ensure_config(room, "Colour")) == sorted(tampered)
    assert await owner_form(chat_service, room) == fresh_form
    await asyncio.sleep(0.2)
    assert configs.empty() and changes.empty(), "the repair itself is ours and not reported"


async def test_a_new_room_is_unlocked_even_when_its_defaults_were_all_right(
        chat_service: ChatService, rooms: MucRooms, people: dict[str, Person], xmpp_clients: ClientFactory) -> None:
    """Prosody locks a new room until its owner form is submitted, even if nothing needs changing."""
    room = new_room(chat_service)
    assert await rooms.open_room(room, "") is True
    await rooms.set_affiliation(room, people["customer0"].jid, "member")
    session = await log_in(xmpp_clients, people["customer0"])
    assert (await enter(session, room, "Cathy"))["type"] != "error"


async def test_join_never_creates_a_room_and_destroy_removes_one(chat_service: ChatService, rooms: MucRooms) -> None:
    missing = new_room(chat_service)
    with pytest.raises(MucError) as refused:
        await rooms.join(missing)
    assert refused.value.condition == "item-not-found"
    assert await rooms.open_room(missing, "Now it exists") is True, "join left no room behind"

    await rooms.leave(missing)
    assert missing not in rooms.joined_rooms()
    await rooms.join(missing)
    assert missing in rooms.joined_rooms()
    await rooms.destroy(missing)
    assert missing not in rooms.joined_rooms()
    with pytest.raises(MucError):
        await rooms.join(missing)
    with pytest.raises(MucError) as refused:  # an IQ to a room that is gone: the server's own condition
        await rooms.get_affiliations(missing)
    assert refused.value.condition in ("gone", "item-not-found"), refused.value.condition  # Prosody: gone
    with pytest.raises(ValueError):
        await rooms.open_room(f"appt-1@elsewhere.{chat_service.config.xmpp.domain}", "Not ours")


async def test_a_member_holding_our_nickname_does_not_keep_the_observer_out(
        chat_service: ChatService, rooms: MucRooms, people: dict[str, Person], xmpp_clients: ClientFactory) -> None:
    room = new_room(chat_service)
    await rooms.open_room(room, "Pedicure")
    await rooms.set_affiliation(room, people["customer0"].jid, "member")
    await rooms.leave(room)
    session = await log_in(xmpp_clients, people["customer0"])
    assert (await enter(session, room, "DoTimely"))["type"] != "error"

    await rooms.join(room)
    since = session.inbox.mark()
    await rooms.send_notice(room, "Hello from the real one")
    notice = await session.inbox.wait_for(
        lambda s: s.name == "message" and s["body"] == "Hello from the real one", WAIT, since)
    assert notice["from"].full == f"{room}/DoTimely (2)"


@pytest.mark.servers("prosody")  # ejabberd 23.01 keeps the observer in its rooms while the component is away
async def test_after_a_reconnection_the_observer_rejoins_and_hears_changes_again(
        chat_service: ChatService, rooms: MucRooms, people: dict[str, Person], xmpp_clients: ClientFactory) -> None:
    """A stanza bounced while the component is away makes the room drop the observer (status 333), and
    what happens meanwhile is not replayed: `join` after reconnecting, then read the lists."""
    changes, _ = recorder(rooms)
    room = new_room(chat_service)
    await rooms.open_room(room, "Waxing")
    owner, staff = people["owner"], people["staff0"]
    await rooms.set_affiliation(room, owner.jid, "admin")
    session = await log_in(xmpp_clients, owner)
    await enter(session, room, "Olga")

    link = chat_service.component
    await link.stop()
    since = session.inbox.mark()
    session.client.make_message(mto=room, mbody="anyone?", mtype="groupchat").send()
    dropped = await session.inbox.wait_for(
        lambda s: s.name == "presence" and s["from"].full == f"{room}/DoTimely" and s["type"] == "unavailable",
        WAIT, since)
    assert 333 in codes(dropped)
    connections = link.state.connections
    link.start()
    deadline = time.monotonic() + 15
    while not (link.state.connections > connections and link.state.resyncs_completed == link.state.connections):
        assert time.monotonic() < deadline, link.state
        await asyncio.sleep(0.05)
    assert room in rooms.joined_rooms(), "still listed, so that the services rejoin it"

    await client_iq(session.client, room, "set", admin_item(staff.jid, "member"))  # unheard: we are out
    await rooms.join(room)
    assert (await rooms.get_affiliations(room))[staff.jid] == "member", "the lists tell what was missed"
    await client_iq(session.client, room, "set", admin_item(staff.jid, "outcast"))
    heard, _ = await next_change(changes, room, lambda c: c.jid == staff.jid)
    assert heard.affiliation == "outcast", heard


# ------------------------------------------------------------------------------------------- affiliations
async def test_affiliations_are_set_one_by_one_and_members_only_admits_members(
        chat_service: ChatService, rooms: MucRooms, people: dict[str, Person], xmpp_clients: ClientFactory) -> None:
    room = new_room(chat_service)
    await rooms.open_room(room, "Massage")
    owner, staff, customer = people["owner"], people["staff0"], people["customer0"]
    await rooms.set_affiliation(room, owner.jid, "admin")
    await rooms.set_affiliation(room, staff.jid, "member")
    await rooms.set_affiliation(room, customer.jid + "/phone", "member", "booked")  # stored bare
    observer = observer_jid(chat_service.config)
    assert await rooms.get_affiliations(room) == {
        observer: "owner", owner.jid: "admin", staff.jid: "member", customer.jid: "member"}

    customer_session = await log_in(xmpp_clients, customer)
    own = await enter(customer_session, room, "Cathy")
    assert own["type"] != "error" and muc_item(own)["affiliation"] == "member"
    observer_presence = customer_session.inbox.matching(
        lambda s: s.name == "presence" and s["from"].full == f"{room}/DoTimely")
    assert observer_presence, "the observer is an occupant"
    assert muc_item(observer_presence[0])["affiliation"] == "owner"
    assert JID(muc_item(observer_presence[0])["jid"]).bare == observer, "non-anonymous: real JIDs shown"

    since = customer_session.inbox.mark()
    message = customer_session.client.make_message(mto=room, mbody="Hello!", mtype="groupchat")
    message.send()
    echo = await customer_session.inbox.wait_for(
        lambda s: s.name == "message" and s["from"].full == f"{room}/Cathy" and s["body"] == "Hello!",
        WAIT, since)
    assert echo.xml.find("{urn:xmpp:sid:0}stanza-id") is not None, "archived"

    await rooms.set_affiliation(room, staff.jid, "none")
    assert staff.jid not in await rooms.get_affiliations(room)
    staff_session = await log_in(xmpp_clients, staff)
    refused = await enter(staff_session, room, "Stan")
    assert refused["type"] == "error" and refused["error"]["condition"] == "registration-required"

    with pytest.raises(ValueError):
        await rooms.set_affiliation(room, staff.jid, "moderator")


async def test_a_business_owner_as_room_admin_cannot_destroy_reconfigure_or_demote_the_component(
        chat_service: ChatService, rooms: MucRooms, people: dict[str, Person], xmpp_clients: ClientFactory) -> None:
    room = new_room(chat_service)
    await rooms.open_room(room, "Nails")
    owner = people["owner"]
    await rooms.set_affiliation(room, owner.jid, "admin")
    session = await log_in(xmpp_clients, owner)
    assert (await enter(session, room, "Olga"))["type"] != "error"
    observer = observer_jid(chat_service.config)

    destroy = ET.Element(f"{{{MUC}#owner}}query")
    ET.SubElement(destroy, f"{{{MUC}#owner}}destroy")
    reconfigure = ET.fromstring(
        f"<query xmlns='{MUC}#owner'><x xmlns='{DATA}' type='submit'><field var='FORM_TYPE'>"
        "<value>http://jabber.org/protocol/muc#roomconfig</value></field>"
        "<field var='muc#roomconfig_publicroom'><value>1</value></field></x></query>")
    attempts = {"destroy": ("set", destroy), "read config": ("get", ET.Element(f"{{{MUC}#owner}}query")),
                "change config": ("set", reconfigure),
                "demote the observer": ("set", admin_item(observer, "member")),
                "ban the observer": ("set", admin_item(observer, "outcast")),
                "make someone owner": ("set", admin_item(people["staff0"].jid, "owner"))}
    conditions = {}
    for what, (itype, payload) in attempts.items():
        with pytest.raises(IqError) as refused:
            await client_iq(session.client, room, itype, payload)
        conditions[what] = refused.value.condition
    protected = {"prosody": "not-acceptable", "ejabberd": "not-allowed"}[chat_service.config.xmpp.server]
    assert conditions == {"destroy": "forbidden", "read config": "forbidden", "change config": "forbidden",
                          "demote the observer": protected, "ban the observer": protected,
                          "make someone owner": "not-allowed"}, conditions
    affiliations = await rooms.get_affiliations(room)
    assert affiliations[observer] == "owner" and affiliations[owner.jid] == "admin"
    assert people["staff0"].jid not in affiliations
    assert (await owner_form(chat_service, room))["muc#roomconfig_publicroom"] == ["0"]


async def test_an_admins_ban_and_invitation_reach_the_callbacks_and_our_own_changes_do_not(
        chat_service: ChatService, rooms: MucRooms, people: dict[str, Person], xmpp_clients: ClientFactory) -> None:
    changes, configs = recorder(rooms)
    room = new_room(chat_service)
    await rooms.open_room(room, "Facial")
    owner, staff, customer = people["owner"], people["staff0"], people["customer0"]
    await rooms.set_affiliation(room, owner.jid, "admin")
    await rooms.set_affiliation(room, customer.jid, "member")
    owner_session = await log_in(xmpp_clients, owner)
    customer_session = await log_in(xmpp_clients, customer)
    await enter(owner_session, room, "Olga")
    await enter(customer_session, room, "Cathy")
    await rooms.set_affiliation(room, customer.jid, "admin")    # an occupant: heard as presence, ours
    await rooms.set_affiliation(room, customer.jid, "member")
    await rooms.set_affiliation(room, staff.jid, "member")      # not an occupant: heard as message, ours
    await rooms.set_affiliation(room, staff.jid, "none")
    await asyncio.sleep(0.3)
    assert changes.empty(), f"our own changes were reported: {changes.get_nowait()}"

    # The admin bans the customer, who is in the room: a presence with status 301 and the actor.
    await client_iq(owner_session.client, room, "set", admin_item(customer.jid, "outcast"))
    ban, elapsed = await next_change(changes, room, lambda c: c.jid == customer.jid)
    assert (ban.affiliation, ban.actor, ban.in_room) == ("outcast", owner.jid, True)
    assert 301 in ban.status_codes and elapsed < EVENT_DEADLINE

    # The admin invites the staff member (not affiliated, not in the room): membership granted at once.
    invite = owner_session.client.make_message(mto=room)
    ET.SubElement(ET.SubElement(invite.xml, f"{{{MUC}#user}}x"), f"{{{MUC}#user}}invite", to=staff.jid)
    invite.send()
    granted, _ = await next_change(changes, room, lambda c: c.jid == staff.jid)
    assert (granted.affiliation, granted.in_room, granted.actor) == ("member", False, None)
    if chat_service.config.xmpp.server == "prosody":  # ejabberd 23.01 gives no reason
        assert "Invited by" in granted.reason

    # A change by someone else than this gateway but through the component's own link is reported too.
    iq = chat_service.component.make_iq_set(ito=room, ifrom=chat_service.component.boundjid.bare)
    iq.append(admin_item(staff.jid, "none"))
    await iq.send(timeout=WAIT)
    removed, _ = await next_change(changes, room, lambda c: c.jid == staff.jid)
    assert removed.affiliation == "none" and not removed.in_room
    assert configs.empty()


async def test_affiliation_items_not_stamped_by_a_room_are_ignored(
        chat_service: ChatService, rooms: MucRooms, people: dict[str, Person], xmpp_clients: ClientFactory) -> None:
    """PRODUCT.md §8: only the room itself (its bare JID) speaks of affiliations."""
    changes, configs = recorder(rooms)
    room = new_room(chat_service)
    await rooms.open_room(room, "Brows")
    customer, owner = people["customer0"], people["owner"]
    await rooms.set_affiliation(room, customer.jid, "member")
    await rooms.set_affiliation(room, owner.jid, "admin")
    session = await log_in(xmpp_clients, customer)
    await enter(session, room, "Cathy")

    def forged(to: str, mtype: str) -> None:
        message = session.client.make_message(mto=to, mtype=mtype)  # type: ignore[arg-type]
        x = ET.SubElement(message.xml, f"{{{MUC}#user}}x")
        ET.SubElement(x, f"{{{MUC}#user}}status", code="104")
        ET.SubElement(x, f"{{{MUC}#user}}item", jid=customer.jid, affiliation="owner")
        message.send()

    forged(observer_jid(chat_service.config), "normal")   # straight to the observer
    forged(room, "groupchat")                             # through the room: from room/Cathy
    forged(f"{room}/DoTimely", "chat")                    # a private message to the observer's nick
    owner_session = await log_in(xmpp_clients, owner)     # the control: a real change, after the forgeries
    await enter(owner_session, room, "Olga")
    await client_iq(owner_session.client, room, "set", admin_item(people["staff0"].jid, "outcast"))
    control = await asyncio.wait_for(changes.get(), EVENT_DEADLINE)  # the first change heard at all
    assert (control.room_jid, control.jid, control.affiliation) == (room, people["staff0"].jid, "outcast"), control
    await asyncio.sleep(0.2)
    assert changes.empty() and configs.empty()


# ------------------------------------------------------------------------------------------- messages
async def test_notices_reach_members_and_invitations_reach_users(
        chat_service: ChatService, rooms: MucRooms, people: dict[str, Person], xmpp_clients: ClientFactory) -> None:
    room = new_room(chat_service)
    await rooms.open_room(room, "Beard trim")
    customer, staff = people["customer0"], people["staff0"]
    await rooms.set_affiliation(room, customer.jid, "member")
    session = await log_in(xmpp_clients, customer)
    await enter(session, room, "Cathy")

    since = session.inbox.mark()
    await rooms.send_notice(room, "Your appointment moved to 11:00")
    notice = await session.inbox.wait_for(
        lambda s: s.name == "message" and s["body"] == "Your appointment moved to 11:00", WAIT, since)
    assert notice["from"].full == f"{room}/DoTimely" and notice["type"] == "groupchat"
    assert notice.xml.find("{urn:xmpp:sid:0}stanza-id") is not None

    staff_session = await log_in(xmpp_clients, staff)
    since = staff_session.inbox.mark()
    # The invitation goes to each client that has not joined from the bookmark once it had time to.
    rooms.invitations.after_bookmark = rooms.invitations.after_login = 0.5
    await rooms.invite(room, staff.jid, "You are the stylist of this appointment")
    invitation = await staff_session.inbox.wait_for(
        lambda s: s.name == "message" and s.xml.find("{jabber:x:conference}x") is not None, WAIT, since)
    x = invitation.xml.find("{jabber:x:conference}x")
    assert invitation["from"].full == chat_service.config.component.jid
    assert invitation["to"].full == staff_session.full_jid
    assert x is not None and x.get("jid") == room and x.get("reason") == "You are the stylist of this appointment"

    # The observer left (or was dropped): a notice rejoins and still arrives.
    await rooms.leave(room)
    await asyncio.sleep(0.2)
    since = session.inbox.mark()
    await rooms.send_notice(room, "Cancelled")
    await session.inbox.wait_for(lambda s: s.name == "message" and s["body"] == "Cancelled", WAIT, since)
    assert room in rooms.joined_rooms()


# ------------------------------------------------------------------------------------------- bookmarks
async def pep_bookmarks(client: ClientXMPP) -> dict[str, ET.Element]:
    """The user's own client reads its bookmarks node."""
    query = ET.Element(f"{{{PUBSUB}}}pubsub")
    ET.SubElement(query, f"{{{PUBSUB}}}items", node=BOOKMARKS)
    try:
        reply = await client_iq(client, client.boundjid.bare, "get", query)
    except IqError as exc:
        if exc.condition == "item-not-found":
            return {}
        raise
    return {item.get("id", ""): item.find(f"{{{BOOKMARKS}}}conference")  # type: ignore[misc]
            for item in reply.xml.iter(f"{{{PUBSUB}}}item")}


@pep_bookmarks_only
async def test_bookmarks_are_published_read_and_retracted_in_the_users_pep(
        chat_service: ChatService, rooms: MucRooms, people: dict[str, Person], xmpp_clients: ClientFactory) -> None:
    room, other = new_room(chat_service), new_room(chat_service)
    customer = people["customer0"]
    session = await log_in(xmpp_clients, customer)
    assert await rooms.get_bookmarks(customer.jid) == {}

    await rooms.publish_bookmark(customer.jid, room, "Haircut - Tue 10:00", "Cathy")
    await rooms.publish_bookmark(customer.jid, other, "Colour - Fri 15:00", "Cathy")
    bookmarks: dict[str, Any] = await rooms.get_bookmarks(customer.jid)
    assert bookmarks[room]["name"] == "Haircut - Tue 10:00" and bookmarks[room]["autojoin"] is True
    assert bookmarks[other]["name"] == "Colour - Fri 15:00" and len(bookmarks) == 2

    own = await pep_bookmarks(session.client)
    assert own[room].get("name") == "Haircut - Tue 10:00" and own[room].get("autojoin") == "true"
    assert own[room].findtext(f"{{{BOOKMARKS}}}nick") == "Cathy"
    configure = ET.Element(f"{{{PUBSUB}#owner}}pubsub")
    ET.SubElement(configure, f"{{{PUBSUB}#owner}}configure", node=BOOKMARKS)
    node = (await client_iq(session.client, session.bare_jid, "get", configure)).xml
    options = {f.get("var"): [v.text for v in f.findall(f"{{{DATA}}}value")] for f in node.iter(f"{{{DATA}}}field")}
    assert options["pubsub#access_model"] == ["whitelist"], "only the user reads their bookmarks"
    assert options["pubsub#send_last_published_item"] == ["never"]
    assert options["pubsub#persist_items"] == ["1"] and options["pubsub#max_items"] == ["max"]

    await rooms.retract_bookmark(customer.jid, room)
    await rooms.retract_bookmark(customer.jid, room)  # idempotent
    assert set(await rooms.get_bookmarks(customer.jid)) == {other}
    assert set(await pep_bookmarks(session.client)) == {other}


@pep_bookmarks_only
async def test_bookmark_errors_are_raised_whether_prosody_refuses_the_wrapper_or_the_pep_request(
        chat_service: ChatService, rooms: MucRooms, people: dict[str, Person], xmpp_clients: ClientFactory) -> None:
    room = new_room(chat_service)
    # No such user: mod_privilege refuses the privileged IQ itself (an outer error).
    with pytest.raises(BookmarkError) as refused:
        await rooms.publish_bookmark(f"nobody-{secrets.token_hex(4)}@{chat_service.config.xmpp.domain}", room,
                                     "Ghost", "Ghost")
    assert refused.value.condition == "forbidden", refused.value

    # The user's own client made the node with another access model: PEP refuses the publish, and Prosody
    # says so in an inner error IQ wrapped in an outer result.
    session = await log_in(xmpp_clients, people["customer0"])
    create = ET.fromstring(
        f"<pubsub xmlns='{PUBSUB}'><create node='{BOOKMARKS}'/><configure><x xmlns='{DATA}' type='submit'>"
        "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#node_config</value></field>"
        "<field var='pubsub#access_model'><value>presence</value></field></x></configure></pubsub>")
    await client_iq(session.client, session.bare_jid, "set", create)
    with pytest.raises(BookmarkError) as failed:
        await rooms.publish_bookmark(session.bare_jid, room, "Haircut", "Cathy")
    assert failed.value.condition == "conflict" and "precondition-not-met" in str(failed.value), failed.value
    assert await rooms.get_bookmarks(session.bare_jid) == {}
