"""Users' presence from the privileged presence stream (XEP-0356 managed_entity) to the status observer.

Prosody sends the component every available/unavailable presence of every user, one per resource, and on
connect a copy of every current one. Presence from the MUC service (room occupants) is not a person's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from slixmpp import Presence

from ..policies.text import within_calendar
from ..services.status import StatusRecorder
from .link import ChatComponent

log = logging.getLogger(__name__)
NS_IDLE = "urn:xmpp:idle:1"


def _idle_since(presence: Presence) -> dt.datetime | None:
    idle = presence.xml.find(f"{{{NS_IDLE}}}idle")
    if idle is None or not idle.get("since"):
        return None
    try:
        since = dt.datetime.fromisoformat(idle.get("since", "").replace("Z", "+00:00"))
    except ValueError:
        return None
    since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    # A client's clock or a hostile client: year 1 in +05:00 cannot even be turned into UTC, and a time
    # the recorder cannot store would be retried with every flush.
    return since.astimezone(dt.UTC) if within_calendar(since) else None


def register_presence(component: ChatComponent, recorder: StatusRecorder, domain: str) -> None:
    def on_presence(presence: Presence) -> None:
        sender = presence["from"]
        if sender.domain != domain or not sender.user or presence["to"].bare != component.boundjid.bare:
            return
        available = presence["type"] != "unavailable"
        status = presence["status"] or None
        recorder.presence(sender.bare, sender.resource, available, _idle_since(presence) if available else None,
                          str(status)[:1000] if status else None)

    component.add_event_handler("presence_available", on_presence)
    component.add_event_handler("presence_unavailable", on_presence)
    component.add_event_handler("disconnected", lambda _: recorder.link_lost())

    async def restored() -> None:
        await recorder.link_restored()

    component.add_event_handler("session_start", lambda _: asyncio.ensure_future(restored()))
