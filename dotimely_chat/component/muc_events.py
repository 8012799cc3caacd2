"""What the MUC service tells the observer: our own presence in rooms, echoes of our notices, and every
affiliation or configuration change, reported to callbacks. Used by `muc.MucRooms`.

Seen on Prosody 0.12 (non-anonymous rooms, the observer an occupant):
- a user in the room: their presence with the new affiliation and `<actor jid nick>` (status 301 for a ban,
  321 for a removal, both `unavailable`);
- a user not in the room: a bodyless message from the room's bare JID with `<item jid affiliation>`, no actor
  (status 301 for a ban; `<reason>Invited by …</reason>` when a mediated invitation granted membership);
- a configuration change: a groupchat message from the room's bare JID with status 104.
Only stanzas from a room of our MUC service addressed to the observer are read (PRODUCT.md §8).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from xml.etree.ElementTree import Element

from slixmpp import JID
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..errors import LinkUnavailable
from .link import ChatComponent

log = logging.getLogger(__name__)

NS_USER = "http://jabber.org/protocol/muc#user"
REMOVAL_CODES = frozenset({301, 321})                     # banned; removed from a members-only room
CONFIG_CODES = frozenset({104, 170, 171, 172, 173, 174})  # configuration, logging, anonymity changed


@dataclass(frozen=True)
class AffiliationChange:
    """An affiliation change heard in a room.

    `in_room` is True when the user was an occupant (heard as their presence; `role` is their new role and
    `actor` the bare JID of who made the change, when the server names one), False when they were not (a
    bodyless message from the room: no role, no actor). `affiliation` is 'none' for a removal.
    """

    room_jid: str
    jid: str
    affiliation: str
    actor: str | None
    role: str | None
    status_codes: frozenset[int]
    reason: str
    in_room: bool


class MucError(RuntimeError):
    """A MUC request failed; `condition` is the XMPP error condition (e.g. 'forbidden')."""

    def __init__(self, room_jid: str, message: str, condition: str) -> None:
        super().__init__(message)
        self.room_jid = room_jid
        self.condition = condition


AffiliationCallback = Callable[[AffiliationChange], Awaitable[None]]
ConfigCallback = Callable[[str], Awaitable[None]]

NS_SID = "urn:xmpp:sid:0"
NS_MARKERS = "urn:xmpp:chat-markers:0"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_DELAY = "urn:xmpp:delay"
NS_OOB = "jabber:x:oob"


@dataclass(frozen=True)
class RoomTraffic:
    """A groupchat message of an occupant, as the room broadcast it live (history replays are left out).

    `stanza_id` is the room's XEP-0359 id (only on archived messages); `markers` are the XEP-0333 markers
    and XEP-0184 receipts it carries, as (kind, referenced id) with kind 'received', 'displayed' or
    'receipt'. `sender` is the occupant's real bare JID (the rooms are non-anonymous)."""

    room_jid: str
    sender: str
    stanza_id: str | None
    origin_id: str | None
    message_id: str | None
    has_body: bool
    has_attachment: bool
    markers: tuple[tuple[str, str], ...]


class TrafficListener(Protocol):
    """Called synchronously for every live message and occupancy change: keep it cheap."""

    def room_message(self, traffic: RoomTraffic) -> None: ...

    def occupant(self, room_jid: str, jid: str, present: bool) -> None: ...

    def left_all_rooms(self) -> None: ...


_groupchat_watchers: weakref.WeakKeyDictionary[ChatComponent, list[RoomEvents]] = weakref.WeakKeyDictionary()


def _take_groupchat(watchers: list[RoomEvents], stanza: StanzaBase) -> StanzaBase | None:
    """The component's incoming filter: groupchat traffic of our rooms goes to every RoomEvents that
    wants it and is consumed (None); anything else goes on to the handlers."""
    taken = False
    for watcher in watchers:
        taken = watcher.take_groupchat(stanza) or taken
    return None if taken else stanza


class RoomEvents:
    """The observer's view of its rooms: where it is, what it waits for, what it reports."""

    def __init__(self, component: ChatComponent, muc_host: str, observer: str) -> None:
        self.muc_host = muc_host
        self.observer = observer
        self._ns = component.default_ns
        self.joined: dict[str, str] = {}                             # room -> our nick there
        self._occupants: dict[str, dict[str, tuple[str, str]]] = {}  # room -> nick -> (bare JID, affiliation)
        self._clients: dict[str, dict[str, str]] = {}                # room -> nick -> occupant's real full JID
        self.client_listeners: list[Callable[[str, str, bool], None]] = []  # (room, full JID, present)
        self._joins: dict[str, asyncio.Future[StanzaBase]] = {}
        self._echoes: dict[str, asyncio.Future[StanzaBase]] = {}
        self._own_changes: dict[tuple[str, str, str], list[object]] = {}
        self._configuring: dict[str, int] = {}
        self.traffic_listeners: list[TrafficListener] = []
        self.affiliation_callbacks: list[AffiliationCallback] = []
        self.config_callbacks: list[ConfigCallback] = []
        self._tasks: set[asyncio.Task[None]] = set()
        ns, name = component.default_ns, f"dotimely muc {id(self):x}"
        component.register_handler(Callback(f"{name} presence", MatchXPath(f"{{{ns}}}presence"), self._on_presence))
        component.register_handler(Callback(f"{name} message", MatchXPath(f"{{{ns}}}message"), self._on_message))
        # Groupchat traffic of our rooms (hundreds a second) is taken by an incoming filter: slixmpp would
        # otherwise match each message against every registered handler (a third of the component's CPU
        # at 500 messages a second, bench/status.py).
        self._message_tag = f"{{{ns}}}message"
        self._room_suffix = "@" + muc_host
        watchers = _groupchat_watchers.get(component)
        if watchers is None:
            watchers = _groupchat_watchers[component] = []
            component.add_filter("in", lambda stanza: _take_groupchat(watchers, stanza))
        watchers.append(self)
        component.add_event_handler("disconnected", self._on_disconnected)

    # ------------------------------------------------------------------------------ what MucRooms uses
    def expect_join(self, room: str) -> asyncio.Future[StanzaBase]:
        """A future for our own presence in `room` (status 110) or the error presence answering our join."""
        future: asyncio.Future[StanzaBase] = asyncio.get_running_loop().create_future()
        self._joins[room] = future
        future.add_done_callback(lambda _: self._joins.pop(room, None) if self._joins.get(room) is future else None)
        self._occupants.setdefault(room, {})
        return future

    def expect_echo(self, message_id: str) -> asyncio.Future[StanzaBase]:
        """A future for the room's echo of our groupchat message (or its error)."""
        future: asyncio.Future[StanzaBase] = asyncio.get_running_loop().create_future()
        self._echoes[message_id] = future
        future.add_done_callback(lambda _: self._echoes.pop(message_id, None))
        return future

    @contextmanager
    def own_affiliation_change(self, room: str, jid: str, affiliation: str) -> Iterator[None]:
        """While our IQ is in flight, the change it causes is ours and is not reported (Prosody broadcasts it
        before answering the IQ, on the same stream)."""
        key, marker = (room, jid, affiliation), object()
        self._own_changes.setdefault(key, []).append(marker)
        try:
            yield
        finally:
            markers = self._own_changes.get(key, [])
            if marker in markers:
                markers.remove(marker)
            if not markers:
                self._own_changes.pop(key, None)

    @contextmanager
    def own_configuration(self, room: str) -> Iterator[None]:
        self._configuring[room] = self._configuring.get(room, 0) + 1
        try:
            yield
        finally:
            self._configuring[room] -= 1
            if not self._configuring[room]:
                del self._configuring[room]

    def forget(self, room: str) -> None:
        self.joined.pop(room, None)
        self._occupants.pop(room, None)
        self._clients.pop(room, None)

    def clients_in(self, room: str) -> set[str]:
        """The real full JIDs of the room's occupants, as far as the observer knows."""
        return set(self._clients.get(room, {}).values())

    # ------------------------------------------------------------------------------ stanza handlers
    def take_groupchat(self, stanza: StanzaBase) -> bool:
        """Handle a groupchat message from one of our rooms to the observer; False if it is not one."""
        xml = stanza.xml
        if (xml.tag != self._message_tag or xml.get("type") != "groupchat"
                or self._room_suffix not in xml.get("from", "") or self._from_room(stanza) is None):
            return False
        try:
            self._on_message(stanza)
        except Exception:
            log.exception("Handling a message from %s failed", xml.get("from"))
        return True

    def _from_room(self, stanza: StanzaBase) -> str | None:
        """The room a stanza comes from, if it is a room of our MUC service and the stanza is addressed to
        the observer; None for anything else (trust only what the server stamped)."""
        sender = stanza["from"]
        if sender.domain != self.muc_host or not sender.user or stanza["to"].bare != self.observer:
            return None
        return str(sender.bare)

    def _on_presence(self, presence: StanzaBase) -> None:
        room = self._from_room(presence)
        if room is None:
            return
        pending = self._joins.get(room)
        if presence["type"] == "error":
            if pending is not None and not pending.done():
                pending.set_result(presence)
            return
        x = presence.xml.find(f"{{{NS_USER}}}x")
        if x is None:
            return
        codes = status_codes(x)
        if 110 in codes:  # about ourselves
            if presence["type"] == "unavailable":
                if room in self.joined:
                    log.warning("Room %s: the observer is out of the room (status %s)", room, sorted(codes))
                self.forget(room)
            elif pending is not None and not pending.done():
                pending.set_result(presence)
            return
        item = x.find(f"{{{NS_USER}}}item")
        if item is not None and (room in self.joined or pending is not None):
            self._track_occupant(room, presence["from"].resource, presence["type"] == "unavailable", item, codes)

    def _track_occupant(self, room: str, nick: str, gone: bool, item: Element, codes: frozenset[int]) -> None:
        """Keep (jid, affiliation) per occupant; report a change of it, a ban or a removal."""
        bare = JID(item.get("jid", "")).bare if item.get("jid") else ""
        affiliation = item.get("affiliation", "none")
        occupants = self._occupants.setdefault(room, {})
        previous = occupants.pop(nick, None) if gone else occupants.get(nick)
        if not gone:
            occupants[nick] = (bare, affiliation)
        full = item.get("jid", "")
        clients = self._clients.setdefault(room, {})
        if JID(full).resource:
            was = clients.pop(nick, None) if gone else clients.get(nick)
            if not gone:
                clients[nick] = full
            if (was is not None) if gone else (was != full):  # an entry or an exit, not a status change
                for client_listener in self.client_listeners:
                    client_listener(room, full, not gone)
        if bare and (gone or previous is None):
            for listener in self.traffic_listeners:
                listener.occupant(room, bare, not gone)
        actor = item.find(f"{{{NS_USER}}}actor")
        changed = bool(codes & REMOVAL_CODES) if gone else (
            (previous is not None and previous[1] != affiliation) or (previous is None and actor is not None))
        if bare and changed:
            actor_jid = JID(actor.get("jid", "")).bare if actor is not None and actor.get("jid") else None
            self._report(AffiliationChange(room, bare, affiliation, actor_jid, item.get("role"), codes,
                                           item.findtext(f"{{{NS_USER}}}reason") or "", in_room=True))

    def _on_message(self, message: StanzaBase) -> None:
        room = self._from_room(message)
        if room is None:
            return
        echo = self._echoes.get(message["id"]) if message["id"] else None
        if echo is not None and not echo.done() and message["type"] in ("groupchat", "error"):
            echo.set_result(message)
            return
        if message["type"] == "error":
            return
        if message["from"].resource:
            if message["type"] == "groupchat" and self.traffic_listeners:
                self._traffic(room, message)
            return
        x = message.xml.find(f"{{{NS_USER}}}x")
        if x is None or x.find(f"{{{NS_USER}}}invite") is not None or x.find(f"{{{NS_USER}}}decline") is not None:
            return
        codes = status_codes(x)
        if codes & CONFIG_CODES:
            if room in self._configuring:
                log.debug("Room %s: our own configuration change (status %s)", room, sorted(codes))
            else:
                log.info("Room %s: configuration changed (status %s)", room, sorted(codes))
                self._emit(self.config_callbacks, room)
        item = x.find(f"{{{NS_USER}}}item")
        if item is not None and item.get("jid") and item.get("affiliation"):
            self._report(AffiliationChange(room, JID(item.get("jid", "")).bare, item.get("affiliation", "none"),
                                           None, None, codes, item.findtext(f"{{{NS_USER}}}reason") or "",
                                           in_room=False))

    def _traffic(self, room: str, message: StanzaBase) -> None:
        xml = message.xml
        delay = xml.find(f"{{{NS_DELAY}}}delay")
        if delay is not None and delay.get("from") == room:
            # History replayed on (re)join: recorded when it was live. Only the room's own stamp counts: Prosody
            # 0.12 strips a client's <delay> claiming to be from the room (muc.lib.lua), tests/integration/
            # test_status.py checks it.
            return
        nick = message["from"].resource
        if nick == self.joined.get(room):
            return  # our own notices
        occupant = self._occupants.get(room, {}).get(nick)
        if occupant is None or not occupant[0]:
            return
        stanza_id = next((e.get("id") for e in xml.findall(f"{{{NS_SID}}}stanza-id") if e.get("by") == room), None)
        origin = xml.find(f"{{{NS_SID}}}origin-id")
        markers = tuple((child.tag.split("}")[1], child.get("id", "")) for child in xml
                        if child.tag.startswith(f"{{{NS_MARKERS}}}") and child.get("id")
                        and child.tag.split("}")[1] in ("received", "displayed"))
        receipt = xml.find(f"{{{NS_RECEIPTS}}}received")
        if receipt is not None and receipt.get("id"):
            markers += (("receipt", receipt.get("id", "")),)
        body = xml.find(f"{{{self._ns}}}body")
        traffic = RoomTraffic(room, occupant[0], stanza_id, origin.get("id") if origin is not None else None,
                              message["id"] or None, body is not None and bool(body.text),
                              xml.find(f"{{{NS_OOB}}}x") is not None, markers)
        for listener in self.traffic_listeners:
            listener.room_message(traffic)

    def _report(self, change: AffiliationChange) -> None:
        markers = self._own_changes.get((change.room_jid, change.jid, change.affiliation))
        if markers or change.actor == self.observer:
            if markers:
                markers.pop(0)
            log.debug("Room %s: our own change %s -> %s", change.room_jid, change.jid, change.affiliation)
            return
        log.info("Room %s: %s became %s (actor %s, status %s)", change.room_jid, change.jid, change.affiliation,
                 change.actor or "not given", sorted(change.status_codes))
        self._emit(self.affiliation_callbacks, change)

    def _emit(self, callbacks: list[Callable[[Any], Awaitable[None]]], argument: Any) -> None:
        for callback in callbacks:
            coroutine: Coroutine[Any, Any, None] = callback(argument)  # type: ignore[assignment]
            task = asyncio.ensure_future(coroutine)
            self._tasks.add(task)
            task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("A MUC event callback failed", exc_info=task.exception())

    def _on_disconnected(self, _event: object) -> None:
        """Fail what waits for the server; keep `joined` so that the services know what to rejoin."""
        for future in [*self._joins.values(), *self._echoes.values()]:
            if not future.done():
                future.set_exception(LinkUnavailable("the link to the XMPP server was lost; try again shortly"))
        self._occupants.clear()
        self._clients.clear()
        for listener in self.traffic_listeners:
            listener.left_all_rooms()


def status_codes(x: Element | None) -> frozenset[int]:
    if x is None:
        return frozenset()
    return frozenset(int(code) for status in x.findall(f"{{{NS_USER}}}status")
                     if (code := status.get("code", "")).isdigit())
