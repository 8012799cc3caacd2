"""The stanza vocabulary the component reads: namespaces and the parsing of what the rooms and the server
stamp on messages. One place for the live observer (`muc_events`), the back-fill and the export
(`muc_archive`) and the presence stream (`presence`).

- XEP-0333 chat markers (`received`, `displayed`) and XEP-0184 receipts, as `Mark`s: a marker in a room
  refers to the room's stanza-id (XEP-0333), some clients send the origin-id or the message id instead:
  the recorder accepts all three (COMPAT.md §5);
- XEP-0359 stanza-ids: only the one the room stamped (`by` = the room) is trusted (PRODUCT.md §8); a
  client's own origin-id;
- XEP-0066 out-of-band data (attachments);
- XEP-0203 delay: only a stamp `from` the room (history replays) or the server counts, never a client's;
- muc#user: status codes, and the server's `<item jid>` (the *last* `<x muc#user>` child, see
  `server_item`); the other XEP-0045 namespaces and data forms' are here too, so each is written once.
Pure functions of ElementTree elements: no slixmpp, no state.
"""

from __future__ import annotations

import datetime as dt
from xml.etree.ElementTree import Element

from ..services.ports import Mark

NS_MUC = "http://jabber.org/protocol/muc"
NS_USER = f"{NS_MUC}#user"
NS_ADMIN = f"{NS_MUC}#admin"
NS_OWNER = f"{NS_MUC}#owner"
NS_DATA = "jabber:x:data"  # XEP-0004 data forms (room configuration, MAM queries)
NS_SID = "urn:xmpp:sid:0"
NS_MARKERS = "urn:xmpp:chat-markers:0"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_DELAY = "urn:xmpp:delay"
NS_OOB = "jabber:x:oob"
NS_FORWARD = "urn:xmpp:forward:0"
CLIENT_NAMESPACES = ("jabber:client", "jabber:component:accept")  # a message's namespace, by stream

# Tags built once: the live observer parses hundreds of messages a second.
_STANZA_ID = f"{{{NS_SID}}}stanza-id"
_ORIGIN_ID = f"{{{NS_SID}}}origin-id"
_MARKER_TAGS = {f"{{{NS_MARKERS}}}received": "received", f"{{{NS_MARKERS}}}displayed": "displayed"}
_RECEIPT = f"{{{NS_RECEIPTS}}}received"
_DELAY = f"{{{NS_DELAY}}}delay"
_OOB_X = f"{{{NS_OOB}}}x"
_OOB_URL = f"{{{NS_OOB}}}x/{{{NS_OOB}}}url"
_USER_X = f"{{{NS_USER}}}x"
_USER_ITEM = f"{{{NS_USER}}}item"
_USER_STATUS = f"{{{NS_USER}}}status"
_MESSAGE_TAGS = frozenset(f"{{{ns}}}message" for ns in CLIENT_NAMESPACES)


def marks(message: Element) -> tuple[Mark, ...]:
    """The XEP-0333 `received`/`displayed` markers a message carries (in document order), then its XEP-0184
    receipt, each with the id it refers to (`receipt` is the kind of a receipt). Markers without an id are
    left out. Prosody 0.12 archives bodyless markers (any chat-markers child), receipts only with a
    `<store/>` hint; so does ejabberd 23.01 with our mod_dotimely_markers (muc_archive.py). So both can come
    from the live room and from its archive."""
    found = tuple(Mark(_MARKER_TAGS[child.tag], reference) for child in message
                  if child.tag in _MARKER_TAGS and (reference := child.get("id")))
    receipt = message.find(_RECEIPT)
    if receipt is not None and (reference := receipt.get("id")):
        found += (Mark("receipt", reference),)
    return found


def room_stanza_id(message: Element, room: str) -> str | None:
    """The XEP-0359 stanza-id the room stamped (`by` = the room's bare JID); a client's own `<stanza-id>`
    claiming another `by` is ignored. Only archived messages carry one."""
    return next((e.get("id") for e in message.findall(_STANZA_ID) if e.get("by") == room), None)


def origin_id(message: Element) -> str | None:
    """The sender's XEP-0359 origin-id, if its client sent one."""
    origin = message.find(_ORIGIN_ID)
    return origin.get("id") if origin is not None else None


def carries_oob(message: Element) -> bool:
    """Whether the message has an XEP-0066 `<x xmlns='jabber:x:oob'>` (how clients send an attachment)."""
    return message.find(_OOB_X) is not None


def oob_urls(message: Element) -> tuple[str, ...]:
    """The XEP-0066 URLs of the message, without repeats, in order."""
    return tuple(dict.fromkeys(url.text.strip() for url in message.iterfind(_OOB_URL)
                               if url.text and url.text.strip()))


def delay_from(element: Element, stamped_by: str) -> Element | None:
    """The XEP-0203 `<delay>` that `stamped_by` (a room, the server's domain) put on the element, if any.
    Another's (a client's) claim is not looked at."""
    return next((delay for delay in element.findall(_DELAY) if delay.get("from") == stamped_by), None)


def is_room_history(message: Element, room: str) -> bool:
    """A message that carries the room's own `<delay>`, as history replayed on (re)join does. Prosody 0.12
    strips a client's `<delay>` claiming to be from the room (muc.lib.lua; tests/integration/test_status.py
    checks it), ejabberd 23.01 keeps it: alone it proves nothing (muc_events reads it only while the room
    replays history)."""
    return delay_from(message, room) is not None


def any_delay(element: Element) -> Element | None:
    """The first `<delay>` child (inside a MAM `<forwarded>`, where the archive put it)."""
    return element.find(_DELAY)


def parse_time(value: str | None) -> dt.datetime | None:
    """An XEP-0082 date-time (`Z` or an offset; UTC when none), keeping whatever fraction of a second it has;
    None when absent or malformed."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def forwarded_message(forwarded: Element) -> Element | None:
    """The `<message>` inside an XEP-0297 `<forwarded>` (in the stream's namespace: jabber:client or, on a
    component's stream, jabber:component:accept)."""
    return next((child for child in forwarded if child.tag in _MESSAGE_TAGS), None)


def user_x(stanza: Element) -> Element | None:
    """The first `<x xmlns=muc#user>` child (on live presence and messages from the room)."""
    return stanza.find(_USER_X)


def server_item(message: Element) -> Element | None:
    """The `<item jid affiliation role>` the room stamped on an archived message. In rooms with whois=anyone
    Prosody appends `<x muc#user><item …>` with the sender's real JID *after* the client's own children: a
    client may add its own `<x muc#user>` to a groupchat message and Prosody keeps it, so only the **last**
    such child is the server's (ejabberd 23.01 likewise, with the sender's full JID; test_muc_archive.py checks
    both). None when the archive does not say (non-anonymous off, or an older entry)."""
    stamped = message.findall(_USER_X)
    return stamped[-1].find(_USER_ITEM) if stamped else None


def status_codes(x: Element | None) -> frozenset[int]:
    """The muc#user status codes of an `<x>` (110 = about ourselves, 201 = room created, 301 = banned…)."""
    if x is None:
        return frozenset()
    return frozenset(int(code) for status in x.findall(_USER_STATUS)
                     if (code := status.get("code", "")).isdigit())
