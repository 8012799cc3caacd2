"""XEP-0050 sessions belong to the full JID that started them.

slixmpp 1.17 continues a command session for whoever sends its session id; PRODUCT.md §8 asks that a
session be bound to the requester's full JID. We put a check in front of its dispatcher.
"""

from __future__ import annotations

import logging

from slixmpp import Iq
from slixmpp.exceptions import XMPPError

from .link import ChatComponent

log = logging.getLogger(__name__)
COMMAND_TIMEOUT_SECONDS = 300.0


def bind_command_sessions_to_requester(component: ChatComponent) -> None:
    adhoc = component.plugin["xep_0050"]
    dispatch = adhoc._handle_command_all  # noqa: SLF001 - the plugin's own dispatcher

    async def guarded(iq: Iq) -> None:
        session = adhoc.sessions.get(iq["command"]["sessionid"])
        if session is not None and session["from"] != iq["from"]:
            log.warning("%s tried to continue a command session of %s", iq["from"], session["from"])
            raise XMPPError("item-not-found", "No such command session")
        await dispatch(iq)

    component.del_event_handler("command", dispatch)
    component.add_event_handler("command", guarded)
