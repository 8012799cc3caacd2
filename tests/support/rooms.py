"""Appointment rooms for the tests: booked and started through the API, joined like a client, their
affiliations read on the real MUC service."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from slixmpp import ClientXMPP, Iq

from dotimely_chat.app import ChatService

from .business import Api, unique


async def book(api: Api, biz: dict[str, Any], customer: str = "customer0", staff: str = "staff0",
               days: int = 1, service: str = "Haircut") -> str:
    appointment = unique("appt")
    starts = (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).replace(microsecond=0).isoformat()
    await api.call("PUT", f"/v1/businesses/{biz['id']}/appointments/{appointment}", {
        "customer": biz["people"][customer]["id"], "staff": biz["people"][staff]["id"], "starts_at": starts,
        "duration_minutes": 45, "service_name": service}, expect=201)
    return appointment


async def start(api: Api, biz: dict[str, Any], initiator: str, appointment: str, audience: str | None = None,
                expect: int | None = 201) -> dict[str, Any]:
    body = {"initiator": biz["people"][initiator]["id"], "appointment": appointment}
    if audience:
        body["audience"] = audience
    return await api.call("POST", f"/v1/businesses/{biz['id']}/conversations", body, expect=expect)


async def affiliations(service: ChatService, room: str) -> dict[str, str]:
    found = await service.muc.get_affiliations(room)
    return {jid: aff for jid, aff in found.items() if aff != "none"}


async def has_affiliation(service: ChatService, room: str, jid: str, affiliation: str) -> bool:
    return (await service.muc.get_affiliations(room)).get(jid, "none") == affiliation


async def join(client: ClientXMPP, room: str, nick: str) -> dict[str, Any]:
    """Join like a client does; returns the self-presence (or raises with the error condition)."""
    answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def on_presence(presence: Any) -> None:
        if presence["from"].bare == room and not answer.done():
            if presence["type"] == "error":
                answer.set_exception(AssertionError(presence["error"]["condition"]))
            elif presence["from"].resource == nick:
                answer.set_result(presence)

    client.add_event_handler("presence", on_presence)
    presence = client.make_presence(pto=f"{room}/{nick}")
    presence.xml.append(presence.xml.makeelement("{http://jabber.org/protocol/muc}x", {}))
    presence.send()
    try:
        return await asyncio.wait_for(answer, 10)
    finally:
        client.del_event_handler("presence", on_presence)


async def admin_iq(client: ClientXMPP, room: str, jid: str, affiliation: str) -> Iq:
    """Set `jid`'s affiliation in `room` as the client (a MUC admin query); raises IqError when refused."""
    iq = client.make_iq_set(ito=room)
    query = iq.xml.makeelement("{http://jabber.org/protocol/muc#admin}query", {})
    item = query.makeelement("{http://jabber.org/protocol/muc#admin}item", {"jid": jid, "affiliation": affiliation})
    query.append(item)
    iq.xml.append(query)
    return await iq.send(timeout=10)
