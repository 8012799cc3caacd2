"""XEP-0050 sessions belong to the full JID that started them; command errors are stanza errors.

slixmpp 1.17 continues a command session for whoever sends its session id; PRODUCT.md §8 asks that a
session be bound to the requester's full JID. We put a check in front of its dispatcher. The same wrapper
is the commands' error boundary: a domain error becomes its stanza error, a passing database fault (a lock
held by another writer) a 'wait' error the client may retry, instead of slixmpp's undefined-condition.
"""

from __future__ import annotations

import logging

from slixmpp import Iq
from slixmpp.exceptions import XMPPError

from ..errors import DomainError
from ..services.passing_faults import passing_fault
from .link import ChatComponent

log = logging.getLogger(__name__)
COMMAND_TIMEOUT_SECONDS = 300.0


def as_stanza_error(exc: DomainError) -> XMPPError:
    """The stanza error of a domain error: type 'wait' for a passing fault (it has a retry_after)."""
    return XMPPError(exc.kind.stanza_condition,  # type: ignore[arg-type] # our table holds RFC 6120 names
                     exc.message, etype="wait" if exc.retry_after else "cancel")


def bind_command_sessions_to_requester(component: ChatComponent) -> None:
    adhoc = component.plugin["xep_0050"]
    dispatch = adhoc._handle_command_all  # noqa: SLF001 - the plugin's own dispatcher

    async def guarded(iq: Iq) -> None:
        session = adhoc.sessions.get(iq["command"]["sessionid"])
        if session is not None and session["from"] != iq["from"]:
            log.warning("%s tried to continue a command session of %s", iq["from"], session["from"])
            raise XMPPError("item-not-found", "No such command session")
        try:
            await dispatch(iq)
        except XMPPError:
            raise
        except DomainError as exc:
            raise as_stanza_error(exc) from None
        except Exception as exc:
            fault = passing_fault(exc)
            if fault is None:
                raise
            log.warning("Command %s of %s answered %s: %s", iq["command"]["node"], iq["from"],
                        fault.kind.errcode, type(exc).__name__)
            raise as_stanza_error(fault) from None

    component.del_event_handler("command", dispatch)
    component.add_event_handler("command", guarded)
