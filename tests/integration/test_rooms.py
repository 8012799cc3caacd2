"""Appointment rooms end to end: the API and the start-chat command, the room on the real MUC, real
clients joining and talking, membership following the appointment, changes by others put back."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from slixmpp.exceptions import IqError

from dotimely_chat.app import ChatService

from ..support.business import Api, make_business
from ..support.clients import ClientFactory
from ..support.link import not_connected, resynced
from ..support.rooms import admin_iq, affiliations, book, has_affiliation, join, start
from ..support.waiting import eventually

pytestmark = pytest.mark.servers("prosody", "ejabberd")
# Tests that read members' bookmarks run on ejabberd once servers.ejabberd_pep.EjabberdBookmarks is wired into
# MucRooms (`bookmarks=`, servers/adapter.py): PepBookmarks needs an IQ privilege ejabberd 23.01 does not grant.
until_ejabberd_bookmarks = pytest.mark.servers("prosody")

MUC_USER = "http://jabber.org/protocol/muc#user"


def people_jids(biz: dict[str, Any], *keys: str) -> list[str]:
    return [biz["people"][key]["jid"] for key in keys]


async def test_a_customer_starts_a_chat_and_all_three_talk_in_it(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=2, staff=1)
    owner, staff, customer = (biz["people"][k] for k in ("owner", "staff0", "customer0"))
    clients = {key: await xmpp_clients.connect(p["jid"], p["password"], "xep_0249", "xep_0045")
               for key, p in (("owner", owner), ("staff", staff), ("customer", customer))}
    invitations: asyncio.Queue[Any] = asyncio.Queue()
    clients["customer"].add_event_handler("groupchat_direct_invite", invitations.put_nowait)
    # This client never joins from the bookmark: it is invited once the time to autojoin has passed.
    chat_service.muc.invitations.after_bookmark = chat_service.muc.invitations.after_login = 0.5
    for client in clients.values():
        client.send_presence()  # online, as a real client is: messages to the bare JID reach it
    await clients["customer"].plugin["xep_0199"].ping(clients["customer"].boundjid.domain, timeout=10)

    appointment = await book(api, biz)
    room = await start(api, biz, "customer0", appointment)
    assert room["kind"] == "everyone" and room["appointment"] == appointment
    assert {m["jid"]: m["affiliation"] for m in room["members"]} == {
        customer["jid"]: "member", staff["jid"]: "member", owner["jid"]: "admin"}
    assert "Haircut" in room["name"] and "Cathy Customer0" in room["name"]
    jid = room["jid"]
    assert (await affiliations(chat_service, jid)) == {
        customer["jid"]: "member", staff["jid"]: "member", owner["jid"]: "admin",
        chat_service.muc.observer: "owner"}

    # Members need do nothing: a bookmark (test_bookmarks_follow_the_appointment) and, for a client that does
    # not join from it, an invitation from the component.
    invitation = await asyncio.wait_for(invitations.get(), 10)
    assert invitation["groupchat_invite"]["jid"] == jid

    # Starting it again (also 20 times at once) returns the same room.
    again = await asyncio.gather(*(start(api, biz, key, appointment, expect=None)
                                   for key in ["customer0", "owner"] * 10))
    assert {r["jid"] for r in again} == {jid}

    heard: asyncio.Queue[Any] = asyncio.Queue()
    clients["owner"].add_event_handler("groupchat_message", heard.put_nowait)
    for key, client in clients.items():
        await join(client, jid, key)
    clients["customer"].send_message(mto=jid, mbody="Can I come 10 minutes later?", mtype="groupchat")
    while True:
        message = await asyncio.wait_for(heard.get(), 10)
        if message["body"] == "Can I come 10 minutes later?":
            break
    assert message["from"].resource == "customer"

    # Someone of the business who is not in the appointment cannot enter.
    other = biz["people"]["customer1"]
    outsider = await xmpp_clients.connect(other["jid"], other["password"])
    with pytest.raises(AssertionError, match="registration-required"):
        await join(outsider, jid, "curious")


async def test_a_staff_member_opens_an_owner_only_room_the_customer_never_sees(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=1, staff=1)
    appointment = await book(api, biz)
    refused = await start(api, biz, "staff0", appointment, expect=403)
    assert refused["errcode"] == "forbidden" and "audience" in refused["error"]
    private = await start(api, biz, "staff0", appointment, audience="owner")
    public = await start(api, biz, "staff0", appointment, audience="everyone")
    assert private["jid"] != public["jid"] and private["name"].endswith("owners only")
    customer = biz["people"]["customer0"]
    assert customer["jid"] not in await affiliations(chat_service, private["jid"])
    client = await xmpp_clients.connect(customer["jid"], customer["password"])
    with pytest.raises(AssertionError, match="registration-required"):
        await join(client, private["jid"], "peek")
    listed = await api.call("GET", f"/v1/businesses/{biz['id']}/conversations?person={customer['id']}", expect=200)
    assert [c["jid"] for c in listed["conversations"]] == [public["jid"]]
    everything = await api.call("GET", f"/v1/businesses/{biz['id']}/conversations", expect=200)
    assert {c["jid"] for c in everything["conversations"]} == {public["jid"], private["jid"]}


async def test_the_owners_ban_and_invitation_do_not_stick_and_the_room_cannot_be_destroyed(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=2, staff=1)
    owner, customer, outsider = (biz["people"][k] for k in ("owner", "customer0", "customer1"))
    room = (await start(api, biz, "customer0", await book(api, biz)))["jid"]
    client = await xmpp_clients.connect(owner["jid"], owner["password"], "xep_0045")
    await join(client, room, "owner")

    await admin_iq(client, room, customer["jid"], "outcast")
    took = await eventually(lambda: has_affiliation(chat_service, room, customer["jid"], "member"), 2.0)
    # Prosody makes an invitee a member; the component takes it back.
    invite = client.make_message(mto=room)
    x = invite.xml.makeelement(f"{{{MUC_USER}}}x", {})
    x.append(x.makeelement(f"{{{MUC_USER}}}invite", {"to": outsider["jid"]}))
    invite.xml.append(x)
    invite.send()
    await eventually(lambda: _was_granted_then_removed(chat_service, room, outsider["jid"]), 3.0)

    with pytest.raises(IqError) as destroy:
        iq = client.make_iq_set(ito=room)
        query = iq.xml.makeelement("{http://jabber.org/protocol/muc#owner}query", {})
        query.append(query.makeelement("{http://jabber.org/protocol/muc#owner}destroy", {}))
        iq.xml.append(query)
        await iq.send(timeout=10)
    assert destroy.value.condition == "forbidden"
    with pytest.raises(IqError):
        await admin_iq(client, room, chat_service.muc.observer, "none")
    audit = (await api.call("GET", f"/v1/businesses/{biz['id']}/audit", expect=200))["entries"]
    reverted = [e for e in audit if e["action"] == "affiliation_reverted"]
    assert any(e["subject"] == customer["jid"] and e["details"]["from"] == "outcast" for e in reverted), audit
    assert any(e["subject"] == outsider["jid"] and e["details"]["to"] == "none" for e in reverted), audit
    assert took < 2.0


async def _was_granted_then_removed(service: ChatService, room: str, jid: str) -> bool:
    async with service.database.session() as session:
        from dotimely_chat.storage import AuditRepository, RoomRepository

        stored = await RoomRepository(session).get_by_jid(room)
        assert stored is not None
        entries = await AuditRepository(session).list(stored.business_id)
    reverted = any(e.action == "affiliation_reverted" and e.subject_jid == jid for e in entries)
    return reverted and await has_affiliation(service, room, jid, "none")


async def test_membership_follows_the_appointment(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=1, staff=2)
    owner, customer, old, new = (biz["people"][k] for k in ("owner", "customer0", "staff0", "staff1"))
    appointment = await book(api, biz)
    room = await start(api, biz, "customer0", appointment)
    jid = room["jid"]
    client = await xmpp_clients.connect(customer["jid"], customer["password"], "xep_0045")
    notices: asyncio.Queue[Any] = asyncio.Queue()
    client.add_event_handler("groupchat_message", notices.put_nowait)
    await join(client, jid, "customer")

    moved = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0)
    await api.call("PUT", f"/v1/businesses/{biz['id']}/appointments/{appointment}", {
        "customer": customer["id"], "staff": new["id"], "starts_at": moved.isoformat(), "duration_minutes": 60,
        "service_name": "Haircut"}, expect=200)
    current = await affiliations(chat_service, jid)
    assert new["jid"] in current and old["jid"] not in current
    texts = await _drain(notices, 2)
    assert any("moved to" in t for t in texts) and any("Stan Staff1 now takes care" in t for t in texts), texts
    listed = (await api.call("GET", f"/v1/businesses/{biz['id']}/conversations", expect=200))["conversations"]
    assert listed[0]["name"] == room["name"].split(" · ")[0] + " · Cathy Customer0 · " + moved.strftime(
        "%a %d %b %H:%M UTC")

    await api.call("DELETE", f"/v1/businesses/{biz['id']}/appointments/{appointment}", expect=200)
    assert any("cancelled" in t for t in await _drain(notices, 1))
    assert customer["jid"] in await affiliations(chat_service, jid), "a cancelled appointment's room stays"

    await api.call("DELETE", f"/v1/businesses/{biz['id']}/people/{customer['id']}", expect=200)
    assert customer["jid"] not in await affiliations(chat_service, jid)
    assert owner["jid"] in await affiliations(chat_service, jid)


@until_ejabberd_bookmarks
async def test_bookmarks_follow_the_appointment(api: Api, chat_service: ChatService) -> None:
    biz = await make_business(api, customers=1, staff=2)
    customer, old, new = (biz["people"][k] for k in ("customer0", "staff0", "staff1"))
    appointment = await book(api, biz)
    room = await start(api, biz, "customer0", appointment)
    jid = room["jid"]
    await eventually(lambda: _bookmarked(chat_service, old["jid"], jid), 5.0)
    bookmarks = await chat_service.muc.get_bookmarks(customer["jid"])
    assert bookmarks[jid]["autojoin"] and bookmarks[jid]["name"] == room["name"]
    private = await start(api, biz, "staff0", appointment, audience="owner")  # the customer never sees it
    assert private["jid"] not in await chat_service.muc.get_bookmarks(customer["jid"])
    await api.call("PUT", f"/v1/businesses/{biz['id']}/appointments/{appointment}", {
        "customer": customer["id"], "staff": new["id"], "starts_at": (dt.datetime.now(dt.UTC) + dt.timedelta(
            days=3)).replace(microsecond=0).isoformat(), "duration_minutes": 60, "service_name": "Haircut"},
        expect=200)
    assert jid in await chat_service.muc.get_bookmarks(new["jid"])
    assert jid not in await chat_service.muc.get_bookmarks(old["jid"])
    await api.call("DELETE", f"/v1/businesses/{biz['id']}/people/{customer['id']}", expect=200)
    assert jid not in await chat_service.muc.get_bookmarks(customer["jid"])


async def _bookmarked(service: ChatService, user: str, room: str) -> bool:
    return room in await service.muc.get_bookmarks(user)


async def _drain(queue: asyncio.Queue[Any], at_least: int, timeout: float = 5.0) -> list[str]:
    texts: list[str] = []
    deadline = time.monotonic() + timeout
    while len(texts) < at_least or not queue.empty():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            texts.append(str((await asyncio.wait_for(queue.get(), remaining))["body"]))
        except TimeoutError:
            break
    return texts


async def test_bad_requests_get_clear_errors_and_create_nothing(
    api: Api, chat_service: ChatService
) -> None:
    biz, other = await make_business(api, customers=2, staff=2), await make_business(api, customers=1, staff=1)
    appointment = await book(api, biz)
    base = f"/v1/businesses/{biz['id']}"
    people = biz["people"]
    cases = [
        ("POST", f"{base}/conversations", {"initiator": people["customer0"]["id"], "appointment": "nope"}, 404,
         "not_found"),
        ("POST", f"{base}/conversations", {"initiator": people["customer1"]["id"], "appointment": appointment},
         403, "forbidden"),  # a customer of the business, not of this appointment
        ("POST", f"{base}/conversations", {"initiator": people["staff1"]["id"], "appointment": appointment,
                                           "audience": "owner"}, 403, "forbidden"),
        ("POST", f"{base}/conversations", {"initiator": other["people"]["owner"]["id"],
                                           "appointment": appointment}, 403, "forbidden"),  # forged initiator
        ("POST", f"/v1/businesses/{other['id']}/conversations", {"initiator": other["people"]["owner"]["id"],
                                                                 "appointment": appointment}, 404, "not_found"),
        ("POST", f"{base}/conversations", {"initiator": people["owner"]["id"], "appointment": appointment,
                                           "audience": "owner"}, 403, "forbidden"),
        ("POST", f"{base}/conversations", {"initiator": people["owner"]["id"], "appointment": appointment,
                                           "audience": "all"}, 400, "bad_request"),
        ("PUT", f"{base}/appointments/a1", {"customer": people["staff0"]["id"], "staff": people["staff1"]["id"],
                                            "starts_at": "2026-12-01T10:00:00+00:00", "duration_minutes": 30,
                                            "service_name": "Cut"}, 400, "bad_request"),
        ("PUT", f"{base}/appointments/a2", {"customer": people["customer0"]["id"], "staff": people["staff0"]["id"],
                                            "starts_at": "tomorrow", "duration_minutes": 30,
                                            "service_name": "Cut"}, 400, "bad_request"),
        ("PUT", f"{base}/appointments/a3", {"customer": people["customer0"]["id"], "staff": people["staff0"]["id"],
                                            "starts_at": "2026-12-01T10:00:00", "duration_minutes": 30,
                                            "service_name": "Cut"}, 400, "bad_request"),
        ("PUT", f"{base}/appointments/a4", {"customer": people["customer0"]["id"], "staff": people["staff0"]["id"],
                                            "starts_at": "2026-12-01T10:00:00Z", "duration_minutes": 0,
                                            "service_name": "Cut"}, 400, "bad_request"),
        ("DELETE", f"{base}/appointments/never-booked", None, 404, "not_found"),
    ]
    fields = []
    for method, path, body, status, errcode in cases:
        answer = await api.call(method, path, body, expect=status)
        assert answer["errcode"] == errcode, (path, body, answer)
        fields.append(answer.get("details", {}).get("field"))
    assert fields[7:11] == ["customer", "starts_at", "starts_at", "duration_minutes"]
    assert (await api.call("GET", f"{base}/conversations", expect=200))["conversations"] == []
    assert (await api.call("GET", f"{base}/appointments/a1", expect=404))["errcode"] == "not_found"


async def test_changes_made_while_the_component_was_away_are_put_back_after_it_reconnects(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=1, staff=1)
    owner, customer = biz["people"]["owner"], biz["people"]["customer0"]
    jid = (await start(api, biz, "customer0", await book(api, biz)))["jid"]
    client = await xmpp_clients.connect(owner["jid"], owner["password"])
    await join(client, jid, "owner")
    link = chat_service.component
    connections = link.state.connections
    link.disconnect(reason="test: the component goes away")
    await eventually(lambda: not_connected(chat_service), 5)
    await admin_iq(client, jid, customer["jid"], "none")  # nobody is watching
    await eventually(lambda: resynced(chat_service, connections + 1), 20)
    assert await has_affiliation(chat_service, jid, customer["jid"], "member")
    assert jid in chat_service.muc.joined_rooms()


async def test_start_chat_command_from_a_client(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=1, staff=1)
    appointment = await book(api, biz, service="Colour")
    component = chat_service.config.component.jid
    staff = biz["people"]["staff0"]
    client = await xmpp_clients.connect(staff["jid"], staff["password"], "xep_0050")
    adhoc = client.plugin["xep_0050"]
    first = await adhoc.send_command(component, "start-chat", timeout=10)
    form = first["command"]["form"]
    fields = form.get_fields()
    options = fields["appointment"].get_options()
    assert len(options) == 1 and "Colour" in options[0]["label"]
    assert {o["value"] for o in fields["audience"].get_options()} == {"everyone", "owner"}
    session = first["command"]["sessionid"]

    intruder = await xmpp_clients.connect(staff["jid"] + "/elsewhere", staff["password"], "xep_0050")
    with pytest.raises(IqError) as stolen:
        await intruder.plugin["xep_0050"].send_command(component, "start-chat", sessionid=session,
                                                       action="complete", timeout=10)
    assert stolen.value.condition == "item-not-found"

    form["type"] = "submit"
    form.set_values({"appointment": "garbage", "audience": "owner"})
    with pytest.raises(IqError) as garbage:
        await adhoc.send_command(component, "start-chat", sessionid=session, action="complete", payload=form,
                                 timeout=10)
    assert garbage.value.condition == "bad-request"

    again = await adhoc.send_command(component, "start-chat", timeout=10)
    form = again["command"]["form"]
    form["type"] = "submit"
    form.set_values({"appointment": options[0]["value"], "audience": "owner"})
    done = await adhoc.send_command(component, "start-chat", sessionid=again["command"]["sessionid"],
                                    action="complete", payload=form, timeout=10)
    room = done["command"]["form"]["values"]["room"]
    listed = (await api.call("GET", f"/v1/businesses/{biz['id']}/conversations", expect=200))["conversations"]
    assert [(c["jid"], c["kind"], c["appointment"]) for c in listed] == [(str(room), "owner", appointment)]


async def test_a_second_service_administrator_cannot_remove_the_owner_or_open_the_room(
    api: Api, chat_service: ChatService
) -> None:
    """Another MUC service admin (here the component's bare JID, which the generated config lists too)
    turns members-only, whois and archiving off and removes the business owner: all put back within 2 s."""
    import xml.etree.ElementTree as ET

    from dotimely_chat.component.muc_config import room_form

    archiving = room_form(chat_service.config.xmpp.server).archiving  # each server names it differently

    biz = await make_business(api, customers=1, staff=1)
    owner = biz["people"]["owner"]
    jid = (await start(api, biz, "customer0", await book(api, biz)))["jid"]
    component = chat_service.component
    data, muc = "jabber:x:data", "http://jabber.org/protocol/muc"
    query = ET.Element(f"{{{muc}#owner}}query")
    form = ET.SubElement(query, f"{{{data}}}x", type="submit")
    for var, value in {"FORM_TYPE": f"{muc}#roomconfig", "muc#roomconfig_membersonly": "0",
                       "muc#roomconfig_whois": "moderators", archiving: "0"}.items():
        ET.SubElement(ET.SubElement(form, f"{{{data}}}field", var=var), f"{{{data}}}value").text = value
    iq = component.make_iq_set(ito=jid, ifrom=component.boundjid.bare)
    iq.append(query)
    await iq.send(timeout=10)
    admin = component.make_iq_set(ito=jid, ifrom=component.boundjid.bare)
    admin_query = ET.SubElement(admin.xml, f"{{{muc}#admin}}query")
    ET.SubElement(admin_query, f"{{{muc}#admin}}item", jid=owner["jid"], affiliation="none")
    await admin.send(timeout=10)

    await eventually(lambda: has_affiliation(chat_service, jid, owner["jid"], "admin"), 2.0)

    async def audited() -> bool:
        entries = (await api.call("GET", f"/v1/businesses/{biz['id']}/audit"))["entries"]
        return any(e["action"] == "config_reverted" and e["room"] == jid for e in entries) and any(
            e["action"] == "affiliation_reverted" and e["subject"] == owner["jid"] for e in entries)

    await eventually(audited, 2.0)
    entries = (await api.call("GET", f"/v1/businesses/{biz['id']}/audit"))["entries"]
    fields = next(e for e in entries if e["action"] == "config_reverted")["details"]["fields"]
    assert {"muc#roomconfig_membersonly", "muc#roomconfig_whois", archiving} <= set(fields)


async def test_after_a_prosody_restart_rooms_are_rejoined_and_watched_again(
    prosody_factory: Callable[..., Awaitable[Any]], tmp_path: Any
) -> None:
    import aiohttp


    prosody = await prosody_factory()
    service = ChatService(prosody.config)
    await service.start()
    clients = ClientFactory(prosody)
    try:
        assert await service.component.wait_connected(15)
        async with aiohttp.ClientSession() as http:
            api = Api(service, http)
            biz = await make_business(api, customers=1, staff=1)
            jid = (await start(api, biz, "customer0", await book(api, biz)))["jid"]
            connections = service.component.state.connections
            await prosody.stop()
            await prosody.start()
            await eventually(lambda: resynced(service, connections + 1), 20)
            assert jid in service.muc.joined_rooms()
            assert (await api.call("GET", f"/v1/businesses/{biz['id']}/conversations"))["conversations"][0][
                "jid"] == jid, "no duplicate room"
            owner, customer = biz["people"]["owner"], biz["people"]["customer0"]
            client = await clients.connect(owner["jid"], owner["password"])
            await join(client, jid, "owner")
            await admin_iq(client, jid, customer["jid"], "outcast")
            await eventually(lambda: has_affiliation(service, jid, customer["jid"], "member"), 2.0)
    finally:
        await clients.close()
        await service.stop()
