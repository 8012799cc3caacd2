"""The component reads room archives (MAM + RSM) on the real Prosody: what is archived, what each message
says, paging, time bounds, refusals."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from dotimely_chat.app import ChatService
from dotimely_chat.component.muc_archive import MucArchive, archived_messages
from dotimely_chat.services.ports import ArchivedMessage, ArchiveError

from ..support.business import Api
from ..support.clients import ClientFactory
from ..support.rooms import join
from ..support.status import MARKERS, Member, room_with_people
from ..support.waiting import eventually

pytestmark = pytest.mark.servers("prosody", "ejabberd")

USER, OOB, RECEIPTS, HINTS = ("http://jabber.org/protocol/muc#user", "jabber:x:oob", "urn:xmpp:receipts",
                              "urn:xmpp:hints")


async def everything(service: ChatService, room: str, **options: Any) -> list[ArchivedMessage]:
    return [message async for message in archived_messages(service.component, room, **options)]


def send(member: Member, *children: tuple[str, dict[str, str], str | None], body: str | None = None) -> str:
    message = member.client.make_message(mto=member.room, mtype="groupchat", mbody=body)
    message["id"] = uuid.uuid4().hex
    for tag, attributes, text in children:
        element = message.xml.makeelement(tag, attributes)
        element.text = text
        message.xml.append(element)
    message.send()
    return str(message["id"])


async def test_the_component_reads_a_room_archive_with_senders_markers_and_attachments(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz, room, clients = await room_with_people(api, xmpp_clients)
    customer, staff, owner = (biz["people"][k]["jid"] for k in ("customer0", "staff0", "owner"))
    for key, nick in (("customer0", "cathy"), ("staff0", "stan"), ("owner", "olga")):
        await join(clients[key], room, nick)
    cathy, stan, olga = (Member(clients[k], room) for k in ("customer0", "staff0", "owner"))
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)

    first = await cathy.say("Hello <b>there</b>")
    url = "https://files.example.test/a/photo.jpg"
    message = stan.client.make_message(mto=room, mtype="groupchat", mbody=url)
    message["id"] = attachment_id = uuid.uuid4().hex
    x = message.xml.makeelement(f"{{{OOB}}}x", {})
    url_element = x.makeelement(f"{{{OOB}}}url", {})
    url_element.text = url
    x.append(url_element)
    message.xml.append(x)
    message.send()
    # A bodyless displayed marker (no hint), a receipt without and with a store hint.
    olga.mark("displayed", first)  # Member.mark adds a store hint; the received marker below has none
    send(olga, (f"{{{MARKERS}}}received", {"id": first}, None))
    send(stan, (f"{{{RECEIPTS}}}received", {"id": "no-hint"}, None))
    send(stan, (f"{{{RECEIPTS}}}received", {"id": "with-hint"}, None), (f"{{{HINTS}}}store", {}, None))
    # A client claiming to be someone else in its own <x muc#user>.
    forged = cathy.client.make_message(mto=room, mtype="groupchat", mbody="I am the owner")
    x = forged.xml.makeelement(f"{{{USER}}}x", {})
    x.append(x.makeelement(f"{{{USER}}}item", {"jid": owner, "affiliation": "admin"}))
    forged.xml.append(x)
    forged.send()
    last = await cathy.say("the end")
    await chat_service.muc.send_notice(room, "Appointment moved")

    messages = await everything(chat_service, room)
    by_id = {m.stanza_id: m for m in messages}
    assert first in by_id and last in by_id
    hello = by_id[first]
    assert hello.body == "Hello <b>there</b>" and hello.sender_jid == customer and hello.nick == "cathy"
    assert hello.origin_id and hello.origin_id == hello.message_id
    assert before <= hello.sent_at <= dt.datetime.now(dt.UTC) and hello.sent_at.tzinfo is not None
    assert hello.room_jid == room

    photo = next(m for m in messages if m.message_id == attachment_id)
    assert photo.attachment_urls == (url,) and photo.body_is_attachment and photo.sender_jid == staff

    markers = [(m.sender_jid, marker) for m in messages for marker in m.markers]
    assert (owner, ("displayed", first)) in markers
    # Prosody 0.12 archives bodyless chat markers; ejabberd 23.01 only those with a <store/> hint, which
    # our mod_dotimely_markers adds to a marker that has none.
    assert (owner, ("received", first)) in markers
    assert (staff, ("receipt", "with-hint")) in markers
    assert (staff, ("receipt", "no-hint")) not in markers, "bodyless receipts without a hint are not archived"

    impostor = next(m for m in messages if m.body == "I am the owner")
    assert impostor.sender_jid == customer, "the server's stamp wins over the client's"
    notice = next(m for m in messages if m.body == "Appointment moved")
    assert notice.sender_jid == chat_service.muc.observer

    # Oldest first, ids unique; small pages give the same sequence; after_id and time bounds.
    assert [m.sent_at for m in messages] == sorted(m.sent_at for m in messages)
    assert len(by_id) == len(messages)
    assert [m.stanza_id for m in await everything(chat_service, room, page_size=2)] == list(by_id)
    index = [m.stanza_id for m in messages].index(first)
    assert [m.stanza_id for m in await everything(chat_service, room, after_id=first)] == list(by_id)[index + 1:]
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert await everything(chat_service, room, start=future) == []
    # (the room's welcome notice may be older than `before`: it is posted after the room opens)
    assert await everything(chat_service, room, start=before, end=future) == [
        m for m in messages if m.sent_at >= before]
    assert await everything(chat_service, room, end=before - dt.timedelta(hours=1)) == []


async def test_a_refused_query_is_a_clear_error(chat_service: ChatService, api: Api,
                                                xmpp_clients: ClientFactory) -> None:
    missing = f"no-such-room-{uuid.uuid4().hex[:8]}@{chat_service.config.muc.host}"
    with pytest.raises(ArchiveError) as raised:
        await everything(chat_service, missing)
    assert raised.value.condition == "item-not-found" and raised.value.room_jid == missing



@pytest.mark.servers("prosody")
async def test_an_after_id_the_archive_does_not_hold_is_refused(chat_service: ChatService, api: Api,
                                                                 xmpp_clients: ClientFactory) -> None:
    _, room, _ = await room_with_people(api, xmpp_clients)
    with pytest.raises(ArchiveError) as raised:
        await everything(chat_service, room, after_id="not-an-id")
    assert raised.value.condition == "item-not-found"


@pytest.mark.servers("ejabberd")
async def test_an_after_id_is_a_position_in_time_on_ejabberd(chat_service: ChatService, api: Api,
                                                              xmpp_clients: ClientFactory) -> None:
    """ejabberd 23.01's room stanza-ids are microsecond times: an id it does not hold (one deleted by the
    retention, say) still reads as "after that moment", and one that is no number as "from the start"."""
    _, room, clients = await room_with_people(api, xmpp_clients)
    await join(clients["customer0"], room, "c")
    cathy = Member(clients["customer0"], room)
    first, second = await cathy.say("one"), await cathy.say("two")
    held = [m.stanza_id for m in await everything(chat_service, room)]
    assert [m.stanza_id for m in await everything(chat_service, room, after_id=str(int(first) + 1))] == [second]
    assert [m.stanza_id for m in await everything(chat_service, room, after_id="not-an-id")] == held


@pytest.mark.servers("prosody")  # ejabberd: every JID of the component's domain is a service admin (one ACL)
async def test_a_jid_of_the_component_without_rights_is_refused(chat_service: ChatService, api: Api,
                                                                xmpp_clients: ClientFactory) -> None:
    _, room, _ = await room_with_people(api, xmpp_clients)
    stranger = MucArchive(chat_service.component, query_from=f"stranger@{chat_service.config.component.jid}")
    with pytest.raises(ArchiveError) as raised:
        _ = [m async for m in stranger.messages(room)]
    assert raised.value.condition == "forbidden"


async def test_the_observer_jid_reads_archives_too(api: Api, chat_service: ChatService,
                                                    xmpp_clients: ClientFactory) -> None:
    _, room, clients = await room_with_people(api, xmpp_clients)
    await join(clients["customer0"], room, "c")
    said = await Member(clients["customer0"], room).say("hi")
    observer = MucArchive(chat_service.component, query_from=chat_service.muc.observer)

    async def found() -> bool:
        return said in [m.stanza_id async for m in observer.messages(room)]

    await eventually(found, 5)
