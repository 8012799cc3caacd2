"""Ad-hoc command `new-conversation` (XEP-0050): an owner searches, picks a person, gets their JID; the
two are made contacts if they were not. The requester's role is checked at every step."""

from __future__ import annotations

import logging
from typing import Any

from slixmpp import Iq
from slixmpp.exceptions import XMPPError
from slixmpp.plugins.xep_0004 import Form

from ..services.directory.search import DirectorySearch
from .adhoc_guard import COMMAND_TIMEOUT_SECONDS
from .link import ChatComponent

log = logging.getLogger(__name__)
NODE = "new-conversation"
Session = dict[str, Any]


MAX_QUERY = 200


def parse_query_form(payload: object) -> str:
    """The search fragment of the first step (at most MAX_QUERY characters; anything else: empty)."""
    value = payload["values"].get("query") if isinstance(payload, Form) else None
    return value[:MAX_QUERY] if isinstance(value, str) else ""


def parse_pick_form(payload: object, offered: set[str]) -> str:
    """The JID picked in the second step; XMPPError bad-request unless it is one of those offered."""
    value = payload["values"].get("person") if isinstance(payload, Form) else None
    if not isinstance(value, str) or value not in offered:
        raise XMPPError("bad-request", "Pick one of the people offered.")
    return value


def register_new_conversation(component: ChatComponent, directory: DirectorySearch) -> None:
    async def require_owner(session: Session) -> str:
        requester = session["from"].bare
        if not await directory.is_owner_anywhere(requester):
            raise XMPPError("forbidden", "Only business owners start one-to-one conversations; staff and "
                                         "customers start appointment chats (start-chat).")
        return requester

    async def start(iq: Iq, session: Session) -> Session:
        await require_owner(session)
        form = Form()
        form["type"] = "form"
        form["title"] = "Start a new conversation"
        form.add_field(var="query", ftype="text-single", label="Name, e-mail or phone (empty: everyone)")
        session.update(payload=form, next=show_results, has_next=True)
        return session

    async def show_results(payload: Form, session: Session) -> Session:
        requester = await require_owner(session)
        fragment = parse_query_form(payload)
        hits = await directory.search_for(requester, fragment)
        if not hits:
            session.update(payload=None, next=None, has_next=False,
                           notes=[("info", f"No one found for '{fragment}'.")])
            return session
        form = Form()
        form["type"] = "form"
        form["title"] = "Pick a person"
        form.add_field(var="person", ftype="list-single", label="Person", required=True,
                       options=[{"label": f"{h.person.display_name} ({h.person.role}, {h.business_name})",
                                 "value": h.person.jid} for h in hits])
        session.update(payload=form, next=pick, has_next=False, allow_complete=True,
                       hits={h.person.jid: h for h in hits})
        return session

    async def pick(payload: Form, session: Session) -> Session:
        requester = await require_owner(session)
        chosen = parse_pick_form(payload, set(session.get("hits", {})))
        hit = session["hits"][chosen]
        await directory.ensure_contact(requester, chosen)
        form = Form()
        form["type"] = "result"
        form["title"] = f"Chat with {hit.person.display_name}"
        form.add_field(var="jid", ftype="jid-single", label="JID", value=chosen)
        form.add_field(var="name", ftype="text-single", label="Name", value=hit.person.display_name)
        log.info("%s starts a conversation with %s", requester, chosen)
        session.update(payload=form, next=None, has_next=False,
                       notes=[("info", f"Open a chat with {hit.person.display_name}: {chosen}")])
        return session

    component.plugin["xep_0050"].add_command(node=NODE, name="Start a new conversation", handler=start,
                                             timeout=COMMAND_TIMEOUT_SECONDS)
