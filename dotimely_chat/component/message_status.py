"""Ad-hoc command `message-status` (XEP-0050): pick a recent message of one of your conversations, see who
received and read it and when. Visibility is checked again when the status is read."""

from __future__ import annotations

from typing import Any

from slixmpp import Iq
from slixmpp.exceptions import XMPPError
from slixmpp.plugins.xep_0004 import Form

from ..errors import DomainError
from ..services.status_queries import StatusQueries
from .adhoc_guard import COMMAND_TIMEOUT_SECONDS
from .link import ChatComponent

NODE = "message-status"
Session = dict[str, Any]


def register_message_status(component: ChatComponent, status: StatusQueries) -> None:
    async def start(iq: Iq, session: Session) -> Session:
        recent = await status.recent_for(session["from"].bare)
        if not recent:
            raise XMPPError("item-not-found", "No message of yours to show yet.")
        form = Form()
        form["type"] = "form"
        form["title"] = "Message status"
        options = [{"label": label, "value": f"{business}\n{room}\n{stanza}"} for business, room, stanza, label in recent]
        form.add_field(var="message", ftype="list-single", label="Message", required=True, options=options)
        session.update(payload=form, next=show, has_next=False, allow_complete=True,
                       offered={o["value"] for o in options})
        return session

    async def show(payload: Form, session: Session) -> Session:
        picked = str(payload["values"].get("message") or "") if isinstance(payload, Form) else ""
        if picked not in session.get("offered", set()):
            raise XMPPError("bad-request", "Pick one of the messages offered.")
        business, room, stanza = picked.split("\n", 2)
        try:
            answer = await status.message_status(business, room, stanza, viewer_jid=session["from"].bare)
        except DomainError as exc:
            raise XMPPError(exc.kind.stanza_condition, exc.message) from None
        result = Form()
        result["type"] = "result"
        result["title"] = f"{answer['status']}: sent {answer['sent_at'][:19]} by {answer['sender']['name']}"
        for var, label in (("name", "Member"), ("delivered", "Delivered"), ("read", "Read")):
            result.add_reported(var, label=label)
        for member in answer["members"]:
            delivered = f"{member['delivered_at'][:19]} ({member['delivered_via']})" if member["delivered_at"] else "-"
            result.add_item({"name": member["name"] or member["jid"] or "?", "delivered": delivered,
                             "read": member["read_at"][:19] if member["read_at"] else "-"})
        session.update(payload=result, next=None, has_next=False)
        return session

    component.plugin["xep_0050"].add_command(node=NODE, name="Message status", handler=start,
                                             timeout=COMMAND_TIMEOUT_SECONDS)
