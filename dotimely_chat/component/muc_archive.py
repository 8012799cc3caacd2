"""Reading a room's archive from the component: XEP-0313 (`urn:xmpp:mam:2`) paged with XEP-0059 RSM.

Used by the export and to back-fill what was said while the component was away. The component's bare JID
(and the observer `rooms@<component>`) are MUC service admins in the generated Prosody and ejabberd configs,
so every room's archive is readable without joining (Prosody: `room:get_affiliation` answers 'owner' for
them; ejabberd: `access_admin`).

What Prosody 0.12's mod_muc_mam does (read in /usr/lib/prosody/modules/mod_muc_mam.lua, muc/history.lib.lua,
and seen in tests/integration/test_muc_archive.py):
- A groupchat message is archived when it has a `<body>`, a `<store/>` hint (XEP-0334), an EME element, or
  **any `urn:xmpp:chat-markers:0` child** — so bodyless XEP-0333 `received`/`displayed` markers ARE archived;
  bodyless XEP-0184 receipts are archived only with a `<store/>` hint; `<no-store/>` excludes anything.
- The result id is the archive key, which is also the `<stanza-id by=room>` members saw live.
- In rooms with whois=anyone (ours), the stored copy gets `<x xmlns=muc#user><item jid affiliation role>`
  with the sender's bare real JID, appended *after* the client's own children: a client may add its own
  `<x muc#user>` to a groupchat message and Prosody keeps it, so only the **last** such child is the
  server's. Without it (non-anonymous off, or an archive written before), `sender_jid` is None and the nick
  is all there is.
- Time stamps (`<delay>` in `<forwarded>`) have a resolution of one second (`os.time()`); order within a
  second is the archive's order.
- Page size: `max_archive_query_results` (default 50) caps RSM `<max>`; asking for more is silently cut,
  so `complete="true"` on `<fin>` — never the page length — tells the last page.
- The result `<message>`s arrive before the `<iq type=result>` on the same stream, so by the time the IQ
  answer is awaited every result of the page has been collected.
- Refusals: `item-not-found` for a room that does not exist (and for an RSM `after` id unknown to the
  archive), `forbidden` when the asker has no affiliation in a members-only room or is banned.

What ejabberd 23.01's mod_mam does for rooms (EJABBERD.md §3, seen in tests/integration/test_ejabberd_rooms.py):
- Only messages with a body or subject, or with a `<store/>` hint, are archived (`should_archive_muc`), so a
  bodyless `displayed`/`received` marker without `<store/>` (Gajim's, Converse's) would be broadcast live but
  never archived, and a marker sent while the component was away lost to the back-fill. Our
  mod_dotimely_markers (servers/ejabberd_modules) adds the hint to such a marker before mod_mam sees it and
  takes it off before the broadcast: room markers are archived as on Prosody (a client's `<no-store/>` still
  wins); bodyless receipts and chat states are not. The component's own room stanzas are notices with a
  body: archived, with a stanza-id, on both servers.
- Results carry the sender's real **full** JID in `<x muc#user><item jid>` (the bare JID is used);
  stamps carry microseconds; the result id is the room's stanza-id; `complete` on `<fin>` tells the last
  page, as on Prosody.
- Stanza-ids are the archive times in microseconds: an RSM `after` id the archive does not hold is no error
  (Prosody: `item-not-found`) but a position in time (one that is no number reads from the start), so the
  back-fill after an id the retention deleted reads what followed it.
- Every JID of the component's domain is a MUC service admin (one `server:` ACL in the generated config).

slixmpp's xep_0313/xep_0059 iterators are not used: `ResultIterator` turns every error (forbidden,
item-not-found, timeout) into a silent end of iteration, ignores `complete`, and registers a
`MatchXMLMask` collector per page (slow with thousands of results and leaked when a page comes back empty).
Results are taken by an incoming stanza filter, before slixmpp matches them against every handler.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement

from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import StanzaBase

from ..services.ports import ArchivedMessage, ArchiveError
from . import stanzas
from .stanzas import NS_DATA
from .link import ChatComponent
from .muc_bookmarks import error_condition

log = logging.getLogger(__name__)

NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"

DEFAULT_PAGE_SIZE = 250  # the generated Prosody config allows this many (max_archive_query_results)
IQ_TIMEOUT = 30.0


@dataclass
class _Page:
    room: str
    messages: list[ArchivedMessage]


class MucArchive:
    """MAM queries from one JID of the component (its bare JID by default). One stanza handler serves every
    query; results are routed to their query by `queryid` and accepted only from the room that was asked."""

    def __init__(self, component: ChatComponent, query_from: str | None = None,
                 timeout: float = IQ_TIMEOUT) -> None:
        self.component = component
        self.query_from = JID(query_from or component.boundjid.bare).bare
        self.timeout = timeout
        self._pages: dict[str, _Page] = {}
        self._message_tag = f"{{{component.default_ns}}}message"
        # An incoming filter, not a handler: results of our queries are taken before slixmpp matches the
        # stanza against every registered handler (that matching was 70 % of an export's CPU).
        component.add_filter("in", self._take_result)

    async def messages(self, room_jid: str, *, after_id: str | None = None, start: dt.datetime | None = None,
                       end: dt.datetime | None = None, page_size: int = DEFAULT_PAGE_SIZE,
                       ) -> AsyncIterator[ArchivedMessage]:
        """The room's messages, oldest first, after `after_id` (exclusive) and within [start, end]
        (inclusive, whole seconds: `start` rounded down, `end` up, so that a server stamping fractions of a
        second, ejabberd, loses nothing within the bounds; callers cut exactly). Streams page by page, asking for the next page while this one is
        consumed (two pages in memory at most). Raises ArchiveError."""
        room = JID(room_jid).bare
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        pending = asyncio.ensure_future(self._page(room, after_id, start, end, page_size))
        pages = 0
        try:
            while True:
                messages, last, complete = await pending
                pages += 1
                more = not complete and last is not None and bool(messages)
                if more:
                    pending = asyncio.ensure_future(self._page(room, last, start, end, page_size))
                for message in messages:
                    yield message
                if not more:
                    break
        finally:
            if not pending.done():
                pending.cancel()
        log.debug("Room %s: archive read in %d page(s)", room, pages)

    async def _page(self, room: str, after: str | None, start: dt.datetime | None, end: dt.datetime | None,
                    size: int) -> tuple[list[ArchivedMessage], str | None, bool]:
        query_id = uuid.uuid4().hex
        iq = self.component.make_iq(ifrom=self.query_from, ito=room, itype="set")
        iq.append(_query(query_id, after, start, end, size))
        self._pages[query_id] = page = _Page(room, [])
        try:
            reply = await iq.send(timeout=self.timeout)
        except IqError as exc:
            # slixmpp 1.17 on a component reads no condition from Prosody's <error> (it is in the stream's
            # namespace, not jabber:client) and reports its default 'feature-not-implemented': read it here.
            condition = error_condition(exc.iq.xml)
            raise ArchiveError(room, condition, f"the archive of {room} refused the query: {condition}") from None
        except IqTimeout:
            raise ArchiveError(room, "remote-server-timeout",
                               f"the archive of {room} did not answer within {self.timeout:.0f} s") from None
        finally:
            self._pages.pop(query_id, None)
        fin = reply.xml.find(f"{{{NS_MAM}}}fin")
        if fin is None:
            raise ArchiveError(room, "undefined-condition", f"the archive of {room} sent no <fin>")
        last = fin.findtext(f"{{{NS_RSM}}}set/{{{NS_RSM}}}last")
        return page.messages, last, fin.get("complete") in ("true", "1")

    def _take_result(self, stanza: StanzaBase) -> StanzaBase | None:
        """A result of one of our queries is collected and consumed (None); anything else passes."""
        xml = stanza.xml
        if xml.tag != self._message_tag or not self._pages:
            return stanza
        result = xml.find(f"{{{NS_MAM}}}result")
        page = self._pages.get(result.get("queryid", "")) if result is not None else None
        if page is None or result is None:
            return stanza
        # Trust only what the room we asked sent us (PRODUCT.md §8).
        if xml.get("from") != page.room or JID(xml.get("to", "")).bare != self.query_from:
            log.warning("Ignored MAM result for room %s from %s", page.room, xml.get("from"))
            return None
        message = parse_result(page.room, result)
        if message is not None:
            page.messages.append(message)
        return None


def _query(query_id: str, after: str | None, start: dt.datetime | None, end: dt.datetime | None,
           size: int) -> Element:
    query = Element(f"{{{NS_MAM}}}query", {"queryid": query_id})
    if start is not None or end is not None:
        form = SubElement(query, f"{{{NS_DATA}}}x", {"type": "submit"})
        fields: list[tuple[str, str, str | None]] = [("FORM_TYPE", NS_MAM, "hidden")]
        fields += [("start", _stamp(start), None)] if start is not None else []
        fields += [("end", _stamp(end, round_up=True), None)] if end is not None else []
        for var, value, ftype in fields:
            field = SubElement(form, f"{{{NS_DATA}}}field", {"var": var, **({"type": ftype} if ftype else {})})
            SubElement(field, f"{{{NS_DATA}}}value").text = value
    rsm = SubElement(query, f"{{{NS_RSM}}}set")
    SubElement(rsm, f"{{{NS_RSM}}}max").text = str(size)
    if after:
        SubElement(rsm, f"{{{NS_RSM}}}after").text = after
    return query


def _stamp(moment: dt.datetime, round_up: bool = False) -> str:
    if moment.tzinfo is None:
        raise ValueError("archive time bounds must be timezone-aware")
    if round_up and moment.microsecond:
        moment += dt.timedelta(microseconds=1_000_000 - moment.microsecond)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_result(room: str, result: Element) -> ArchivedMessage | None:
    """An ArchivedMessage from a MAM `<result>` element; None when it holds no message."""
    forwarded = result.find(f"{{{stanzas.NS_FORWARD}}}forwarded")
    if forwarded is None:
        return None
    inner = stanzas.forwarded_message(forwarded)
    delay = stanzas.any_delay(forwarded)
    if inner is None or delay is None or not result.get("id"):
        return None
    ns = inner.tag[1:].split("}")[0]
    sent_at = stanzas.parse_time(delay.get("stamp"))
    if sent_at is None:
        log.warning("Room %s: archived message %s has a bad time stamp %r", room, result.get("id"),
                    delay.get("stamp"))
        return None
    item = stanzas.server_item(inner)
    sender = JID(item.get("jid", "")).bare if item is not None and item.get("jid") else None
    return ArchivedMessage(
        room_jid=room, stanza_id=result.get("id", ""), sent_at=sent_at, sender_jid=sender,
        nick=JID(inner.get("from", "")).resource, body=inner.findtext(f"{{{ns}}}body"),
        origin_id=stanzas.origin_id(inner), message_id=inner.get("id") or None,
        attachment_urls=stanzas.oob_urls(inner), markers=stanzas.marks(inner))


_archives: weakref.WeakKeyDictionary[ChatComponent, MucArchive] = weakref.WeakKeyDictionary()


def archive_of(component: ChatComponent) -> MucArchive:
    """The component's MucArchive (one result handler per component), made on first use."""
    archive = _archives.get(component)
    if archive is None:
        archive = _archives[component] = MucArchive(component)
    return archive


def archived_messages(component: ChatComponent, room_jid: str, *, after_id: str | None = None,
                      start: dt.datetime | None = None, end: dt.datetime | None = None,
                      page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[ArchivedMessage]:
    """`MucArchive.messages` on the component's archive reader: the room's messages, oldest first."""
    return archive_of(component).messages(room_jid, after_id=after_id, start=start, end=end,
                                          page_size=page_size)
