"""Ad-hoc command `start-chat` (XEP-0050): pick one of your appointments (and, as staff, the audience);
get the room. The requester's role is re-checked when the chat is started, from the directory."""

from __future__ import annotations

import logging
from typing import Any

from slixmpp import Iq
from slixmpp.exceptions import XMPPError
from slixmpp.plugins.xep_0004 import Form

from ..errors import DomainError
from ..policies.rooms import Audience, parse_audience
from ..services.appointments import AppointmentService
from ..services.rooms import RoomService, StartChat
from .adhoc_guard import COMMAND_TIMEOUT_SECONDS
from .link import ChatComponent

log = logging.getLogger(__name__)
NODE = "start-chat"
Session = dict[str, Any]


def _label(business_name: str, appointment: dict[str, Any]) -> str:
    when = appointment["starts_at"][:16].replace("T", " ")
    cancelled = " (cancelled)" if appointment["status"] == "cancelled" else ""
    return f"{appointment['service_name']} · {when} UTC · {business_name}{cancelled}"


def parse_start_chat_form(payload: object, offered: set[str]) -> tuple[str, str, Audience | None]:
    """(business, appointment, audience) from the submitted form; XMPPError bad-request otherwise. Only
    a value the form offered is taken (so it is one of the requester's appointments)."""
    values = payload["values"] if isinstance(payload, Form) else {}
    picked = values.get("appointment")
    if not isinstance(picked, str) or picked not in offered or "\n" not in picked:
        raise XMPPError("bad-request", "Pick one of the appointments offered.")
    raw_audience = values.get("audience")
    audience = parse_audience(raw_audience) if isinstance(raw_audience, str) and raw_audience else None
    if raw_audience and audience is None:
        raise XMPPError("bad-request", "The audience is 'everyone' or 'owner'.")
    business, appointment = picked.split("\n", 1)
    return business, appointment, audience


def register_start_chat(component: ChatComponent, appointments: AppointmentService, rooms: RoomService) -> None:
    async def start(iq: Iq, session: Session) -> Session:
        requester = session["from"].bare
        choices = await appointments.choices_for(requester)
        if not choices:
            raise XMPPError("item-not-found", "You have no recent or upcoming appointment to chat about.")
        form = Form()
        form["type"] = "form"
        form["title"] = "Start a chat about an appointment"
        options = [{"label": _label(name, appt), "value": f"{business}\n{appt['id']}"}
                   for business, name, _, appt in choices]
        form.add_field(var="appointment", ftype="list-single", label="Appointment", required=True,
                       options=options)
        if any(role == "staff" for _, _, role, _ in choices):
            form.add_field(var="audience", ftype="list-single", label="Who is in the chat (staff)",
                           value="everyone", options=[
                               {"label": "Everyone: the customer, you and the owners", "value": "everyone"},
                               {"label": "Only the owners and you", "value": "owner"}])
        session.update(payload=form, next=finish, has_next=False, allow_complete=True,
                       offered={o["value"] for o in options})
        return session

    async def finish(payload: Form, session: Session) -> Session:
        business, appointment, audience = parse_start_chat_form(payload, session.get("offered", set()))
        try:
            room, _ = await rooms.start_chat(business, StartChat(
                appointment, audience, initiator_jid=session["from"].bare))
        except DomainError as exc:
            raise XMPPError(exc.kind.stanza_condition, exc.message) from None
        result = Form()
        result["type"] = "result"
        result["title"] = room["name"]
        result.add_field(var="room", ftype="jid-single", label="Room", value=room["jid"])
        session.update(payload=result, next=None, has_next=False,
                       notes=[("info", f"Your chat is ready: {room['name']} ({room['jid']}). It appears in your "
                                       "client; if not, accept the invitation or join the room.")])
        return session

    component.plugin["xep_0050"].add_command(node=NODE, name="Start a chat about an appointment", handler=start,
                                             timeout=COMMAND_TIMEOUT_SECONDS)
