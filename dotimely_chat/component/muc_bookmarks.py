"""XEP-0402 bookmarks in users' PEP, written and read through XEP-0356 privileged IQs.

Protocol trap (Prosody 0.12 mod_privilege, COMPAT.md §1): a PEP error comes back as an outer `result`
wrapping an inner `type='error'` IQ, so the inner IQ is always inspected.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from xml.etree.ElementTree import Element

from slixmpp import JID, Iq
from slixmpp.exceptions import IqTimeout
from slixmpp.plugins.xep_0356.privilege import PrivilegedIqError

from .link import ChatComponent

log = logging.getLogger(__name__)

NS_BOOKMARKS = "urn:xmpp:bookmarks:1"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
PUBLISH_OPTIONS_FORM_TYPE = "http://jabber.org/protocol/pubsub#publish-options"
# Exactly what XEP-0402 asks for; other values make Prosody answer precondition-not-met.
PUBLISH_OPTIONS = {
    "pubsub#persist_items": "true",
    "pubsub#max_items": "max",
    "pubsub#send_last_published_item": "never",
    "pubsub#access_model": "whitelist",
}


class BookmarkError(RuntimeError):
    """A privileged PEP operation failed; `condition` is the XMPP error condition."""

    def __init__(self, message: str, condition: str) -> None:
        super().__init__(message)
        self.condition = condition


class PepBookmarks:
    """Publish, retract and read a user's room bookmarks on their behalf."""

    def __init__(self, component: ChatComponent, timeout: float) -> None:
        self.component = component
        self.timeout = timeout

    async def publish(self, user_jid: str, room_jid: str, name: str, nick: str) -> None:
        user = JID(user_jid).bare
        iq = self.component.make_iq_set(ifrom=user, ito=user)
        publish = iq["pubsub"]["publish"]
        publish["node"] = NS_BOOKMARKS
        item = publish["item"]
        item["id"] = JID(room_jid).bare
        item["conference"]["autojoin"] = True
        item["conference"]["name"] = name
        item["conference"]["nick"] = nick
        form = self.component.plugin["xep_0004"].make_form(ftype="submit")
        form.add_field(var="FORM_TYPE", ftype="hidden", value=PUBLISH_OPTIONS_FORM_TYPE)
        for var, value in PUBLISH_OPTIONS.items():
            form.add_field(var=var, value=value)
        iq["pubsub"]["publish_options"] = form
        await self._send(iq, f"publishing bookmark {room_jid} for {user}")
        log.info("Bookmark %s published for %s", room_jid, user)

    async def retract(self, user_jid: str, room_jid: str) -> None:
        """Idempotent: a missing item or node is fine."""
        user = JID(user_jid).bare
        iq = self.component.make_iq_set(ifrom=user, ito=user)
        retract = iq["pubsub"]["retract"]
        retract["node"] = NS_BOOKMARKS
        retract["notify"] = True  # the user's online clients hear of it
        retract["item"]["id"] = JID(room_jid).bare
        try:
            await self._send(iq, f"retracting bookmark {room_jid} for {user}")
        except BookmarkError as exc:
            if exc.condition != "item-not-found":
                raise
            log.debug("Bookmark %s of %s was already gone", room_jid, user)
        else:
            log.info("Bookmark %s retracted for %s", room_jid, user)

    async def read(self, user_jid: str) -> dict[str, dict[str, Any]]:
        """Room JID -> {'name', 'autojoin', 'nick'}; empty when the user has no bookmarks node."""
        user = JID(user_jid).bare
        iq = self.component.make_iq_get(ifrom=user, ito=user)
        iq["pubsub"]["items"]["node"] = NS_BOOKMARKS
        try:
            reply = await self._send(iq, f"reading the bookmarks of {user}")
        except BookmarkError as exc:
            if exc.condition == "item-not-found":
                return {}
            raise
        bookmarks: dict[str, dict[str, Any]] = {}
        for item in reply.xml.iter(f"{{{NS_PUBSUB}}}item"):
            conference = item.find(f"{{{NS_BOOKMARKS}}}conference")
            if conference is None or not item.get("id"):
                continue
            nick = conference.find(f"{{{NS_BOOKMARKS}}}nick")
            bookmarks[item.get("id", "")] = {
                "name": conference.get("name", ""),
                "autojoin": conference.get("autojoin", "").lower() in ("1", "true"),
                "nick": (nick.text or "") if nick is not None else "",
            }
        return bookmarks

    async def _send(self, iq: Iq, what: str) -> Iq:
        return await send_privileged(self.component, iq, what, self.timeout)


async def send_privileged(component: ChatComponent, iq: Iq, what: str, timeout: float) -> Iq:
    """Send a privileged IQ (XEP-0356) on a user's behalf; raise BookmarkError on an outer or inner error."""
    privilege = component.plugin["xep_0356"]
    try:
        inner: Iq = await asyncio.wait_for(privilege.send_privileged_iq(iq), timeout)
    except PrivilegedIqError as exc:
        # Refused by mod_privilege itself (e.g. not a local user): the outer IQ is the error.
        nested = exc.nested_error()
        refused = nested.iq if nested is not None else exc.iq
        raise BookmarkError(f"{what} failed: {error_detail(refused.xml)}", error_condition(refused.xml)) from None
    except (TimeoutError, IqTimeout):
        raise BookmarkError(f"{what} timed out", "remote-server-timeout") from None
    except PermissionError as exc:
        raise BookmarkError(f"{what} is not allowed: {exc}", "forbidden") from None
    if inner["type"] == "error":  # a PEP error, wrapped in an outer result
        raise BookmarkError(f"{what} failed: {error_detail(inner.xml)}", error_condition(inner.xml))
    return inner


def error_condition(stanza: Element) -> str:
    """The defined condition of a stanza's (first) <error>."""
    error = stanza.find("{*}error")
    if error is not None:
        for child in error:
            if child.tag.startswith(f"{{{NS_STANZAS}}}") and not child.tag.endswith("}text"):
                return child.tag.split("}", 1)[1]
    return "undefined-condition"


def error_detail(stanza: Element) -> str:
    """Condition, application condition (e.g. pubsub's precondition-not-met) and text, for messages."""
    error = stanza.find("{*}error")
    if error is None:
        return "undefined-condition"
    parts = [error_condition(stanza)]
    parts += [child.tag.split("}", 1)[-1] for child in error if not child.tag.startswith(f"{{{NS_STANZAS}}}")]
    text = error.findtext(f"{{{NS_STANZAS}}}text")
    return " ".join(parts) + (f" ({text})" if text else "")

