"""The one-to-one rules of PRODUCT.md 2.1 and 2.2, enforced by the real server with its generated config
(Prosody: mod_dotimely_guard.lua; ejabberd: mod_dotimely_guard.erl; each ahead of mod_block_strangers) given
the rosters our component sets for people made through the API (tests/support/people.py holds the plan).

Every "does not arrive" is checked after a permitted message on the same path did arrive, then a quiet
window: a broken setup (a client that hears nothing, a wrong address) cannot pass silently.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from xml.etree import ElementTree as ET

import aiohttp
import pytest
from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import StanzaBase

from dotimely_chat.app import ChatService
from dotimely_chat.policies.contacts import ONE_TO_ONE_REFUSAL
from dotimely_chat.servers.ejabberd_process import EjabberdProcess
from dotimely_chat.servers.prosody_config import observer_jid
from dotimely_chat.servers.prosody_process import ProsodyProcess

from ..support.business import Api, make_business
from ..support.clients import ClientFactory
from ..support.people import COMPONENT_NAME, ROSTER_GROUP, Session, business_of, from_, log_in, presence_from

QUIET = 1.5  # seconds to wait for something that must never arrive, after the controls arrived
WAIT = 5.0  # bound for anything that must arrive

MUC_NS = "http://jabber.org/protocol/muc"


@pytest.fixture(scope="module", params=["prosody", "ejabberd"])
def xmpp_server(request: pytest.FixtureRequest) -> ProsodyProcess | EjabberdProcess:
    """This module runs on both servers (`xmpp_clients` follows)."""
    return request.getfixturevalue(f"{request.param}_server")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
async def service(xmpp_server: ProsodyProcess | EjabberdProcess) -> AsyncIterator[ChatService]:
    """The component, connected to the session server, for this module's tests."""
    chat = ChatService(xmpp_server.config)
    await chat.start()
    try:
        assert await chat.component.wait_connected(15), "the component did not connect"
        yield chat
    finally:
        await chat.stop()


@pytest.fixture(scope="module")
async def api(service: ChatService) -> AsyncIterator[Api]:
    """The booking API of this module's service: businesses are made through it, as the product makes them."""
    async with aiohttp.ClientSession() as http:
        yield Api(service, http)


async def only_controls_arrive(controls: list[tuple[Session, Callable[[StanzaBase], bool]]],
                               forbidden: list[tuple[Session, Callable[[StanzaBase], bool]]]) -> None:
    """Each control arrives (bounded wait); then, after a quiet window, nothing forbidden has."""
    for session, expected in controls:
        await session.inbox.wait_for(expected, WAIT)
    await asyncio.sleep(QUIET)
    for session, unwanted in forbidden:
        leaked = session.inbox.matching(unwanted)
        assert not leaked, f"{session.bare_jid} received {unwanted.__doc__}: {[str(s) for s in leaked]}"


def body(tag: str) -> str:
    return f"{tag} {secrets.token_hex(4)}"


def event_queue(client: ClientXMPP, event: str) -> asyncio.Queue[StanzaBase]:
    queue: asyncio.Queue[StanzaBase] = asyncio.Queue()
    client.add_event_handler(event, queue.put_nowait)
    return queue


async def next_matching(queue: asyncio.Queue[StanzaBase], predicate: Callable[[StanzaBase], bool],
                        what: str) -> StanzaBase:
    async def scan() -> StanzaBase:
        while not predicate(stanza := await queue.get()):
            pass
        return stanza

    try:
        return await asyncio.wait_for(scan(), WAIT)
    except TimeoutError:
        raise AssertionError(f"no {what} within {WAIT} s") from None


async def send_from_room(service: ChatService, session: Session, text: str) -> None:
    """A real `type='groupchat'` message from the MUC service to the session's full JID: the component
    (a MUC service admin) opens a room, makes the person a member, the person joins, the component speaks."""
    component, config = service.component, service.config
    room = f"control-{secrets.token_hex(4)}@{config.muc.host}"
    occupant = f"{observer_jid(config)}/observer"
    join = component.make_presence(pto=f"{room}/{COMPONENT_NAME}", pfrom=occupant)
    join.append(ET.Element(f"{{{MUC_NS}}}x"))
    join.send()
    instant = component.make_iq_set(ito=room, ifrom=occupant)
    query = ET.Element(f"{{{MUC_NS}#owner}}query")
    ET.SubElement(query, "{jabber:x:data}x", type="submit")
    instant.append(query)
    await instant.send(timeout=WAIT)
    member = component.make_iq_set(ito=room, ifrom=occupant)
    query = ET.Element(f"{{{MUC_NS}#admin}}query")
    ET.SubElement(query, f"{{{MUC_NS}#admin}}item", jid=session.bare_jid, affiliation="member")
    member.append(query)
    await member.send(timeout=WAIT)
    enter = session.client.make_presence(pto=f"{room}/{session.person.role}")
    enter.append(ET.Element(f"{{{MUC_NS}}}x"))
    enter.send()
    await session.inbox.wait_for(lambda s: s.name == "presence" and s["from"].bare == room, WAIT)
    component.make_message(mto=room, mbody=text, mtype="groupchat", mfrom=occupant).send()


# ------------------------------------------------------------------------------------------------ rosters
async def test_each_person_has_exactly_the_contacts_of_the_plan(
        service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    business = business_of(await make_business(api, owners=2, staff=1, customers=2))
    component = service.component.boundjid.bare
    for person in business.members:
        session = await log_in(xmpp_clients, person, available=False)
        roster = session.client.client_roster
        seen = {jid: (roster[jid]["name"], tuple(roster[jid]["groups"]), roster[jid]["subscription"])
                for jid in roster}
        others = [p for p in business.members if p != person] if person.role == "owner" else business.owners
        expected = {p.jid: (p.name, (ROSTER_GROUP[p.role],), "both") for p in others}
        expected[component] = (COMPONENT_NAME, (COMPONENT_NAME,), "both")
        assert seen == expected, f"roster of {person.role} {person.jid}"


# ---------------------------------------------------------------------------------- who may message whom
async def test_staff_and_customer_cannot_message_each_other_directly_but_the_owner_reaches_both(
        service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    business = business_of(await make_business(api, staff=1, customers=1))
    owner = await log_in(xmpp_clients, business.owner)
    staff = await log_in(xmpp_clients, business.staff[0])
    customer = await log_in(xmpp_clients, business.customers[0])

    for to in (customer.bare_jid, customer.full_jid):
        for mtype in ("chat", "normal", "headline"):
            staff.send(to, body(f"staff to customer ({mtype})"), mtype)
    for to in (staff.bare_jid, staff.full_jid):
        customer.send(to, body("customer to staff"))
    to_customer, to_staff = body("owner to customer"), body("owner to staff")
    owner.send(customer.bare_jid, to_customer)
    owner.send(staff.bare_jid, to_staff)

    await only_controls_arrive(
        controls=[(customer, from_(owner.bare_jid, to_customer)), (staff, from_(owner.bare_jid, to_staff))],
        forbidden=[(customer, from_(staff.bare_jid)), (staff, from_(customer.bare_jid))])


async def test_staff_message_to_an_offline_customer_is_neither_stored_nor_archived(
        service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    """Offline storage and MAM (which clients such as Conversations sync at login) stay clean too."""
    business = business_of(await make_business(api, staff=1, customers=1))
    owner = await log_in(xmpp_clients, business.owner)
    staff = await log_in(xmpp_clients, business.staff[0])
    from_staff, from_owner = body("staff to offline customer"), body("owner to offline customer")
    staff.send(business.customers[0].jid, from_staff)
    owner.send(business.customers[0].jid, from_owner)
    # A ping answered after each message means Prosody has handled the message (one session, in order).
    for sender in (staff, owner):
        await sender.client.plugin["xep_0199"].ping(sender.client.boundjid.domain, timeout=WAIT)

    customer = await log_in(xmpp_clients, business.customers[0])
    await only_controls_arrive(controls=[(customer, from_(owner.bare_jid, from_owner))],
                               forbidden=[(customer, from_(staff.bare_jid))])

    archive = await customer.client.plugin["xep_0313"].retrieve(timeout=WAIT)
    forwarded = [r["mam_result"]["forwarded"]["stanza"] for r in archive["mam"]["results"]]
    archived = [(m["from"].bare, m["body"]) for m in forwarded]
    assert (owner.bare_jid, from_owner) in archived
    assert not [a for a in archived if a[0] == staff.bare_jid], archived


async def test_customers_cannot_message_each_other(
        service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    business = business_of(await make_business(api, staff=0, customers=2))
    owner = await log_in(xmpp_clients, business.owner)
    first = await log_in(xmpp_clients, business.customers[0])
    second = await log_in(xmpp_clients, business.customers[1])

    for a, b in ((first, second), (second, first)):
        a.send(b.bare_jid, body("customer to customer, bare"))
        a.send(b.full_jid, body("customer to customer, full"))
    to_first, to_second = body("owner to first"), body("owner to second")
    owner.send(first.bare_jid, to_first)
    owner.send(second.bare_jid, to_second)

    await only_controls_arrive(
        controls=[(first, from_(owner.bare_jid, to_first)), (second, from_(owner.bare_jid, to_second))],
        forbidden=[(first, from_(second.bare_jid)), (second, from_(first.bare_jid))])


async def test_people_of_another_business_cannot_message_each_other(
        service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    a = business_of(await make_business(api, staff=0, customers=1))
    b = business_of(await make_business(api, staff=0, customers=1))
    owner_a = await log_in(xmpp_clients, a.owner)
    customer_a = await log_in(xmpp_clients, a.customers[0])
    owner_b = await log_in(xmpp_clients, b.owner)
    customer_b = await log_in(xmpp_clients, b.customers[0])

    owner_a.send(customer_b.bare_jid, body("owner A to customer B"))
    owner_a.send(customer_b.full_jid, body("owner A to customer B, full"))
    customer_b.send(owner_a.bare_jid, body("customer B to owner A"))
    owner_a.send(owner_b.bare_jid, body("owner A to owner B"))
    controls = {session: body("control") for session in (customer_b, owner_a, owner_b)}
    owner_b.send(customer_b.bare_jid, controls[customer_b])
    customer_a.send(owner_a.bare_jid, controls[owner_a])
    customer_b.send(owner_b.bare_jid, controls[owner_b])

    await only_controls_arrive(
        controls=[(customer_b, from_(owner_b.bare_jid, controls[customer_b])),
                  (owner_a, from_(customer_a.bare_jid, controls[owner_a])),
                  (owner_b, from_(customer_b.bare_jid, controls[owner_b]))],
        forbidden=[(customer_b, from_(owner_a.bare_jid)), (owner_a, from_(customer_b.bare_jid)),
                   (owner_b, from_(owner_a.bare_jid))])


async def test_groupchat_typed_messages_from_users_are_dropped_even_to_full_jids(
        service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    """mod_block_strangers passes type='groupchat' to a full JID from anyone; mod_dotimely_guard must
    drop it unless it comes from the MUC service (a real room message on the same path is the control)."""
    business = business_of(await make_business(api, staff=1, customers=1))
    owner = await log_in(xmpp_clients, business.owner)
    staff = await log_in(xmpp_clients, business.staff[0])
    customer = await log_in(xmpp_clients, business.customers[0])

    staff.send(customer.full_jid, body("staff groupchat to customer, full"), "groupchat")
    staff.send(customer.bare_jid, body("staff groupchat to customer, bare"), "groupchat")
    customer.send(staff.full_jid, body("customer groupchat to staff, full"), "groupchat")
    owner.send(customer.full_jid, body("owner groupchat to customer, full"), "groupchat")  # guard: anyone
    from_room, to_customer, to_staff = body("room"), body("owner chat to customer"), body("owner to staff")
    owner.send(customer.full_jid, to_customer)
    owner.send(staff.full_jid, to_staff)
    await send_from_room(service, customer, from_room)

    room_message = await customer.inbox.wait_for(
        lambda s: s.name == "message" and s["body"] == from_room, WAIT)
    assert room_message["type"] == "groupchat"
    assert room_message["to"].full == customer.full_jid
    assert room_message["from"].domain == service.config.muc.host
    await only_controls_arrive(
        controls=[(customer, from_(owner.bare_jid, to_customer)), (staff, from_(owner.bare_jid, to_staff))],
        forbidden=[(customer, from_(staff.bare_jid)), (staff, from_(customer.bare_jid)),
                   (customer, lambda s: s.name == "message" and s["from"].bare == owner.bare_jid
                    and s["type"] == "groupchat")])


# ----------------------------------------------------------------------------- the sender is told
def refusal_of(sent_id: str, recipient: str) -> Callable[[StanzaBase], bool]:
    """The error answering the message `sent_id` the server refused to deliver to `recipient`."""
    def match(stanza: StanzaBase) -> bool:
        return (stanza.name == "message" and stanza["type"] == "error" and stanza["id"] == sent_id
                and stanza["from"].full == recipient)

    match.__doc__ = f"an error for message {sent_id} from {recipient}"
    return match


def assert_refused(error: StanzaBase) -> None:
    assert error["error"]["type"] == "cancel", error
    assert error["error"]["condition"] == "not-allowed", error
    assert error["error"]["text"] == ONE_TO_ONE_REFUSAL, error


async def test_a_refused_message_comes_back_to_its_sender_as_not_allowed_and_is_not_delivered(
        service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    """Staff -> customer, customer -> staff, customer -> customer and across businesses, every type a client
    sends, to bare and full JIDs: the sending client gets an error it shows beside the message."""
    business = business_of(await make_business(api, staff=1, customers=2))
    other = business_of(await make_business(api, staff=0, customers=1))
    owner = await log_in(xmpp_clients, business.owner)
    staff = await log_in(xmpp_clients, business.staff[0])
    customer = await log_in(xmpp_clients, business.customers[0])
    second = await log_in(xmpp_clients, business.customers[1])
    foreign_owner = await log_in(xmpp_clients, other.owner)

    refused: list[tuple[Session, Session, StanzaBase]] = []
    for sender, receiver in ((staff, customer), (customer, staff), (customer, second),
                             (foreign_owner, customer), (customer, foreign_owner)):
        for to in (receiver.bare_jid, receiver.full_jid):
            for mtype in ("chat", "normal", "groupchat"):
                sent = sender.send(to, body(f"{sender.person.role} to {receiver.person.role} ({mtype})"), mtype)
                refused.append((sender, receiver, sent))
    to_customer, to_staff = body("owner to customer"), body("owner to staff")
    owner.send(customer.bare_jid, to_customer)
    owner.send(staff.bare_jid, to_staff)

    for sender, _receiver, sent in refused:
        assert_refused(await sender.inbox.wait_for(refusal_of(sent["id"], str(sent["to"])), WAIT))
    await only_controls_arrive(
        controls=[(customer, from_(owner.bare_jid, to_customer)), (staff, from_(owner.bare_jid, to_staff))],
        forbidden=[(receiver, from_(sender.bare_jid)) for sender, receiver, _ in refused])
    for sender, _, sent in refused:  # exactly one error per refused message
        assert len(sender.inbox.matching(refusal_of(sent["id"], str(sent["to"])))) == 1


async def test_refused_receipts_markers_and_errors_are_dropped_without_an_error(
        service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    """A bodyless stanza (receipt, marker, chat state) is nothing a client shows, and an error is never
    answered with an error (no loops): neither gets one."""
    business = business_of(await make_business(api, staff=1, customers=1))
    staff = await log_in(xmpp_clients, business.staff[0])
    customer = await log_in(xmpp_clients, business.customers[0])
    receipt = staff.client.make_message(mto=customer.full_jid, mtype="chat")
    receipt["id"] = "receipt-1"
    receipt["receipt"] = "some-message"
    receipt.send()
    marker = staff.client.make_message(mto=customer.bare_jid, mtype="chat")
    marker["id"] = "marker-1"
    marker["displayed"]["id"] = "some-message"
    marker.send()
    error = staff.client.make_message(mto=customer.full_jid, mtype="error", mbody="an error is never answered")
    error["id"] = "error-1"
    error["error"]["condition"] = "item-not-found"
    error.send()
    control = staff.send(customer.bare_jid, body("with a body"))
    await staff.inbox.wait_for(refusal_of(control["id"], customer.bare_jid), WAIT)
    await asyncio.sleep(QUIET)
    errors = staff.inbox.matching(lambda s: s.name == "message" and s["type"] == "error")
    assert [e["id"] for e in errors] == [control["id"]]
    assert not customer.inbox.matching(lambda s: s.name == "message" and s["from"].bare == staff.bare_jid)


async def test_iqs_to_a_full_jid_reach_contacts_and_are_refused_between_staff_and_customers(
        service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    """Calls (Jingle), in-band file transfers and the like start with an IQ to the other's full JID: between
    strangers the server answers it cancel/service-unavailable itself and the other client never sees it
    (it would answer a ping with a result)."""
    business = business_of(await make_business(api, staff=1, customers=1))
    owner = await log_in(xmpp_clients, business.owner)
    staff = await log_in(xmpp_clients, business.staff[0])
    customer = await log_in(xmpp_clients, business.customers[0])
    for sender, receiver in ((owner, customer), (customer, owner), (owner, staff)):
        answer = await sender.client.plugin["xep_0199"].send_ping(receiver.full_jid, timeout=WAIT)
        assert answer["type"] == "result" and answer["from"].full == receiver.full_jid

    for sender, receiver in ((staff, customer), (customer, staff)):
        with pytest.raises(IqError) as refused:
            await sender.client.plugin["xep_0199"].send_ping(receiver.full_jid, timeout=WAIT)
        assert refused.value.iq["error"]["condition"] == "service-unavailable", refused.value.iq
        assert refused.value.iq["error"]["type"] == "cancel", refused.value.iq


# ------------------------------------------------------------------------------ what contacts do get
async def test_owner_and_customer_exchange_messages_receipts_and_read_markers_both_ways(
        service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    business = business_of(await make_business(api, staff=0, customers=1))
    owner = await log_in(xmpp_clients, business.owner)
    customer = await log_in(xmpp_clients, business.customers[0])

    for sender, receiver in ((owner, customer), (customer, owner)):
        receipts = event_queue(sender.client, "receipt_received")
        displayed = event_queue(sender.client, "marker_displayed")
        text = body(f"{sender.person.role} to {receiver.person.role}")
        sent = sender.send(receiver.bare_jid, text, receipt=True, markable=True)

        got = await receiver.inbox.wait_for(from_(sender.bare_jid, text), WAIT)
        assert got["id"] == sent["id"] and got["type"] == "chat"
        receipt = await next_matching(receipts, lambda m, sent_id=sent["id"]: m["receipt"] == sent_id,
                                      f"receipt for {sent['id']} at the {sender.person.role}")
        assert receipt["from"].full == receiver.full_jid

        receiver.client.plugin["xep_0333"].send_marker(got["from"], got["id"], "displayed", mtype="chat")
        marker = await next_matching(displayed, lambda m, sent_id=sent["id"]: m["displayed"]["id"] == sent_id,
                                     f"displayed marker for {sent['id']} at the {sender.person.role}")
        assert marker["from"].bare == receiver.bare_jid


async def test_staff_and_owner_chat_both_ways(service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    business = business_of(await make_business(api, staff=1, customers=0))
    owner = await log_in(xmpp_clients, business.owner)
    staff = await log_in(xmpp_clients, business.staff[0])
    for sender, receiver in ((staff, owner), (owner, staff)):
        for to in (receiver.bare_jid, receiver.full_jid):
            text = body(f"{sender.person.role} to {receiver.person.role}")
            sender.send(to, text)
            await receiver.inbox.wait_for(from_(sender.bare_jid, text), WAIT)


async def test_owner_and_customer_see_each_other_online_and_the_owner_sees_the_customer_leave(
        service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    """Rosters are set before anyone logs in (a privileged roster set only pushes; FACTS.md)."""
    business = business_of(await make_business(api, staff=1, customers=1))
    owner = await log_in(xmpp_clients, business.owner)
    staff = await log_in(xmpp_clients, business.staff[0])
    await staff.inbox.wait_for(presence_from(owner.bare_jid, available=True), WAIT)  # staff hears presence

    customer = await log_in(xmpp_clients, business.customers[0])
    await owner.inbox.wait_for(presence_from(customer.bare_jid, available=True), WAIT)
    await customer.inbox.wait_for(presence_from(owner.bare_jid, available=True), WAIT)

    before_logout = owner.inbox.mark()  # (the owner's login probe got an unavailable from the bare JID)
    customer.client.disconnect()
    gone = await owner.inbox.wait_for(presence_from(customer.bare_jid, available=False), WAIT,
                                      since=before_logout)
    assert gone["from"].full == customer.full_jid
    await asyncio.sleep(QUIET)
    assert not staff.inbox.matching(presence_from(customer.bare_jid, available=True))
    assert not staff.inbox.matching(presence_from(customer.bare_jid, available=False))
    assert not customer.inbox.matching(presence_from(staff.bare_jid, available=True))


async def test_last_activity_of_a_customer_is_told_to_the_owner_and_refused_to_staff(
        service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    business = business_of(await make_business(api, staff=1, customers=1))
    owner = await log_in(xmpp_clients, business.owner)
    staff = await log_in(xmpp_clients, business.staff[0])
    customer = await log_in(xmpp_clients, business.customers[0])
    await owner.inbox.wait_for(presence_from(customer.bare_jid, available=True), WAIT)

    before_logout = owner.inbox.mark()
    customer.client.disconnect()
    await owner.inbox.wait_for(presence_from(customer.bare_jid, available=False), WAIT, since=before_logout)
    left = time.monotonic()
    await asyncio.sleep(1.1)  # Prosody counts whole seconds: ≥ 1 proves it recorded this logout

    answer = await owner.client.plugin["xep_0012"].get_last_activity(customer.bare_jid, timeout=WAIT)
    seconds = int(answer["last_activity"]["seconds"])
    assert 1 <= seconds <= time.monotonic() - left + 1, seconds

    with pytest.raises(IqError) as refused:
        await staff.client.plugin["xep_0012"].get_last_activity(customer.bare_jid, timeout=WAIT)
    assert refused.value.iq["error"]["condition"] == "forbidden"
    assert refused.value.iq["error"]["type"] == "auth"


# ------------------------------------------------------------------------------ subscription handshake
# A staff member's subscription request, once approved by the customer (one click in Conversations or
# Gajim), would make them roster contacts and open a direct chat; mod_dotimely_guard drops user-to-user
# subscription requests and approvals (the component manages every roster).
async def test_a_customer_approving_a_staff_subscription_request_does_not_open_a_direct_chat(
        service: ChatService, api: Api, xmpp_clients: ClientFactory) -> None:
    business = business_of(await make_business(api, staff=1, customers=1))
    owner = await log_in(xmpp_clients, business.owner)
    staff = await log_in(xmpp_clients, business.staff[0])
    customer = await log_in(xmpp_clients, business.customers[0])

    staff.client.send_presence(pto=customer.bare_jid, ptype="subscribe")
    await staff.client.plugin["xep_0199"].ping(staff.client.boundjid.domain, timeout=WAIT)
    customer.client.send_presence(pto=staff.bare_jid, ptype="subscribed")  # the customer clicks "accept"
    await customer.client.plugin["xep_0199"].ping(customer.client.boundjid.domain, timeout=WAIT)
    staff.send(customer.bare_jid, body("staff to customer after the handshake"))
    control = body("owner to customer")
    owner.send(customer.bare_jid, control)

    await only_controls_arrive(controls=[(customer, from_(owner.bare_jid, control))],
                               forbidden=[(customer, from_(staff.bare_jid))])
