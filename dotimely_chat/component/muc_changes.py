"""Affiliation and configuration changes heard in the rooms, except our own, reported to callbacks (the
services decide what to do: `services.rooms` reverts what the component did not make).

Seen on Prosody 0.12 (non-anonymous rooms, the observer an occupant):
- a user in the room: their presence with the new affiliation and `<actor jid nick>` (status 301 for a ban,
  321 for a removal, both `unavailable`);
- a user not in the room: a bodyless message from the room's bare JID with `<item jid affiliation>`, no actor
  (status 301 for a ban; `<reason>Invited by …</reason>` when a mediated invitation granted membership);
- a configuration change: a groupchat message from the room's bare JID with status 104.
- Prosody broadcasts the change an IQ of ours causes before answering the IQ, on the same stream: while the
  IQ is in flight, that change is ours (`own_affiliation_change`, `own_configuration`).

Seen on ejabberd 23.01 (tests/integration/test_ejabberd_rooms.py), the same shapes except:
- the actor of a change to an occupant is named by nick only (`<actor nick='Olga'/>`, no jid, even in a
  non-anonymous room): the nick is resolved to the occupant's real JID (`jid_of`);
- a configuration change is a groupchat message from the room's bare JID with status 104 (170-174 when
  archiving or anonymity changed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

from slixmpp import JID

from .stanzas import NS_USER

log = logging.getLogger(__name__)

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


AffiliationCallback = Callable[[AffiliationChange], Awaitable[None]]
ConfigCallback = Callable[[str], Awaitable[None]]
NickLookup = Callable[[str, str], str]  # (room, nick) -> the occupant's real bare JID, '' when unknown


class RoomChanges:
    """What changed in the rooms and who is told; callbacks run as tasks. `jid_of` names an actor the
    server gives by nick only."""

    def __init__(self, observer: str, jid_of: NickLookup | None = None) -> None:
        self.observer = observer
        self.jid_of: NickLookup = jid_of or (lambda _room, _nick: "")
        self.affiliation_callbacks: list[AffiliationCallback] = []
        self.config_callbacks: list[ConfigCallback] = []
        self._own_changes: dict[tuple[str, str, str], list[object]] = {}
        self._configuring: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @contextmanager
    def own_affiliation_change(self, room: str, jid: str, affiliation: str) -> Iterator[None]:
        """While our IQ is in flight, the change it causes is ours and is not reported."""
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

    # ----------------------------------------------------------------------------- what was heard
    def occupant_changed(self, room: str, bare: str, item: Element, codes: frozenset[int], gone: bool,
                         previous_affiliation: str | None) -> None:
        """An occupant's presence (`previous_affiliation` None when they were not known in the room): a
        change of affiliation, a ban or a removal is reported."""
        affiliation = item.get("affiliation", "none")
        actor = item.find(f"{{{NS_USER}}}actor")
        changed = bool(codes & REMOVAL_CODES) if gone else (
            (previous_affiliation is not None and previous_affiliation != affiliation)
            or (previous_affiliation is None and actor is not None))
        if bare and changed:
            actor_jid = self._actor(room, actor)
            self._report(AffiliationChange(room, bare, affiliation, actor_jid, item.get("role"), codes,
                                           item.findtext(f"{{{NS_USER}}}reason") or "", in_room=True))

    def _actor(self, room: str, actor: Element | None) -> str | None:
        """The bare JID of who made a change: the server's `jid`, else the occupant with the `nick`."""
        if actor is None:
            return None
        if actor.get("jid"):
            return JID(actor.get("jid", "")).bare
        return (self.jid_of(room, actor.get("nick", "")) or None) if actor.get("nick") else None

    def room_announced(self, room: str, x: Element, codes: frozenset[int]) -> None:
        """A bodyless message from the room itself: a configuration change, or an absent user's new
        affiliation."""
        if codes & CONFIG_CODES:
            if room in self._configuring:
                log.debug("Room %s: our own configuration change (status %s)", room, sorted(codes))
            else:
                log.info("Room %s: configuration changed (status %s)", room, sorted(codes))
                self._emit(self.config_callbacks, room)
        item = x.find(f"{{{NS_USER}}}item")
        if item is not None and item.get("jid") and item.get("affiliation"):
            jid = JID(item.get("jid", "")).bare
            self._report(AffiliationChange(room, jid, item.get("affiliation", "none"), None, None, codes,
                                           item.findtext(f"{{{NS_USER}}}reason") or "", in_room=False))

    def _report(self, change: AffiliationChange) -> None:
        markers = self._own_changes.get((change.room_jid, change.jid, change.affiliation))
        if markers or change.actor == self.observer:
            if markers:
                markers.pop(0)
            log.debug("Room %s: our own change %s -> %s", change.room_jid, change.jid, change.affiliation)
            return
        log.info("Room %s: %s became %s (actor %s, status %s)", change.room_jid, change.jid,
                 change.affiliation, change.actor or "not given", sorted(change.status_codes))
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
