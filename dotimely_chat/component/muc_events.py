"""What the MUC service tells the observer, routed: our own presence in rooms (joins) and echoes of our
notices, occupants' presence (`muc_occupants`), affiliation and configuration changes (`muc_changes`), and
the live traffic of the rooms for the status (`_traffic`: messages, XEP-0333 markers, XEP-0184 receipts,
parsed with `stanzas` and handed to `services.status.StatusRecorder`). Used by `muc.MucRooms`.

Only stanzas from a room of our MUC service addressed to the observer are read (PRODUCT.md §8).

History: a room replays history right after our own join presence and before its subject (XEP-0045 §7.2.15;
both servers send a `<subject/>`, empty when none is set), each message with the room's `<delay>`. Prosody
0.12 strips a client's `<delay>` claiming to be from the room, **ejabberd 23.01 does not** (seen: a member's
message with `<delay from=room>` is broadcast and archived with it): so a message is taken for history only
while the room is replaying (`_replaying`: from our join until its subject or a message without the room's
delay), never for its `<delay>` alone.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from slixmpp import JID
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..errors import LinkUnavailable
from ..services.status import StatusRecorder
from . import stanzas
from .link import ChatComponent
from .muc_changes import RoomChanges
from .muc_occupants import Occupants

log = logging.getLogger(__name__)


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
        self.joined: dict[str, str] = {}  # room -> our nick there (kept over a lost link: what to rejoin)
        self.present: set[str] = set()  # rooms whose answer to our join came on the current stream
        self.occupants = Occupants()
        self.changes = RoomChanges(observer, self.occupants.jid_of)
        self.status: StatusRecorder | None = None  # the live traffic's recorder (`MucRooms.record_status`)
        self._joins: dict[str, asyncio.Future[StanzaBase]] = {}
        self._replaying: set[str] = set()  # rooms that may still be replaying history to us (see above)
        self._echoes: dict[str, asyncio.Future[StanzaBase]] = {}
        ns, name = component.default_ns, f"dotimely muc {id(self):x}"
        component.register_handler(Callback(f"{name} presence", MatchXPath(f"{{{ns}}}presence"), self._on_presence))
        component.register_handler(Callback(f"{name} message", MatchXPath(f"{{{ns}}}message"), self._on_message))
        # Groupchat traffic of our rooms (hundreds a second) is taken by an incoming filter: slixmpp would
        # otherwise match each message against every registered handler (a third of the component's CPU
        # at 500 messages a second, bench/status.py).
        self._message_tag = f"{{{ns}}}message"
        self._body_tag = f"{{{ns}}}body"
        self._subject_tag = f"{{{ns}}}subject"
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
        self.occupants.expect(room)
        self._replaying.add(room)
        return future

    def expect_echo(self, message_id: str) -> asyncio.Future[StanzaBase]:
        """A future for the room's echo of our groupchat message (or its error)."""
        future: asyncio.Future[StanzaBase] = asyncio.get_running_loop().create_future()
        self._echoes[message_id] = future
        future.add_done_callback(lambda _: self._echoes.pop(message_id, None))
        return future

    def forget(self, room: str) -> None:
        self.joined.pop(room, None)
        self.present.discard(room)
        self.occupants.forget(room)
        self._replaying.discard(room)

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
        x = stanzas.user_x(presence.xml)
        if x is None:
            return
        codes = stanzas.status_codes(x)
        if 110 in codes:  # about ourselves
            if presence["type"] == "unavailable":
                if room in self.joined:
                    log.warning("Room %s: the observer is out of the room (status %s)", room, sorted(codes))
                self.forget(room)
            elif pending is not None and not pending.done():
                pending.set_result(presence)
            return
        item = x.find(f"{{{stanzas.NS_USER}}}item")
        if item is None or (room not in self.joined and pending is None):
            return
        gone = presence["type"] == "unavailable"
        previous = self.occupants.update(room, presence["from"].resource, gone, item)
        bare = JID(item.get("jid", "")).bare if item.get("jid") else ""
        if bare and (gone or previous is None) and self.status is not None:
            self.status.occupant(room, bare, not gone)
        self.changes.occupant_changed(room, bare, item, codes, gone, previous[1] if previous else None)

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
        if room in self._replaying and (message.xml.find(self._subject_tag) is not None
                                        or not stanzas.is_room_history(message.xml, room)):
            self._replaying.discard(room)  # the history (if any) is over: what follows is live
        if message["from"].resource:
            if message["type"] == "groupchat" and self.status is not None:
                self._traffic(room, message, self.status)
            return
        x = stanzas.user_x(message.xml)
        if x is None or x.find(f"{{{stanzas.NS_USER}}}invite") is not None \
                or x.find(f"{{{stanzas.NS_USER}}}decline") is not None:
            return
        self.changes.room_announced(room, x, stanzas.status_codes(x))

    def _traffic(self, room: str, message: StanzaBase, status: StatusRecorder) -> None:
        """A live groupchat message of an occupant (not ours, not history): its body is a message of the
        sender (`StatusRecorder.message_said`), each XEP-0333 marker and XEP-0184 receipt it carries a mark of
        theirs (`StatusRecorder.marked`). `sender` is the occupant's real bare JID (the rooms are
        non-anonymous)."""
        xml = message.xml
        if room in self._replaying and stanzas.is_room_history(xml, room):
            return  # replayed on (re)join: recorded when it was live
        nick = message["from"].resource
        if nick == self.joined.get(room):
            return  # our own notices
        sender = self.occupants.jid_of(room, nick)
        if not sender:
            return
        body = xml.find(self._body_tag)
        if body is not None and body.text:
            status.message_said(room, sender, stanzas.room_stanza_id(xml, room), stanzas.origin_id(xml),
                                xml.get("id") or None, stanzas.carries_oob(xml))
        for mark in stanzas.marks(xml):
            status.marked(room, sender, mark)

    def _on_disconnected(self, _event: object) -> None:
        """Fail what waits for the server; keep `joined` so that the services know what to rejoin."""
        for future in [*self._joins.values(), *self._echoes.values()]:
            if not future.done():
                future.set_exception(LinkUnavailable("the link to the XMPP server was lost; try again shortly"))
        self.occupants.clear()
        self._replaying.clear()
        self.present.clear()
        if self.status is not None:
            self.status.left_all_rooms()
