"""XEP-0249 invitations only for the clients that do not join a room from its bookmark
(policies/invitations.py says when). This object holds what that needs: which clients of which people
are online (the privileged presence stream), which clients were in which rooms (the observer's view of
occupancy), the members waiting for a room, and one timer per (room, client).

State is in memory: after a restart, rooms created before it are not waited for (their members have the
bookmarks; reconciliation publishes missing ones).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from slixmpp import JID, Presence

from ..policies.invitations import (
    AFTER_BOOKMARK_SECONDS,
    AFTER_LOGIN_SECONDS,
    PENDING_SECONDS,
    invitation_due,
    should_invite,
)
from .link import ChatComponent
from .muc_occupants import Occupants

log = logging.getLogger(__name__)

SendInvitation = Callable[[str, str, str], None]  # (room, client's full JID, reason)


@dataclass
class Waiting:
    """A member of a room whose clients may still need an invitation."""

    reason: str
    bookmarked_at: float
    joined: set[str] = field(default_factory=set)   # full JIDs seen in the room since the bookmark
    invited: set[str] = field(default_factory=set)  # full JIDs invited


class Invitations:
    def __init__(self, component: ChatComponent, occupants: Occupants, domain: str,
                 send: SendInvitation) -> None:
        self.component, self.occupants, self.domain, self.send = component, occupants, domain, send
        self.after_bookmark = AFTER_BOOKMARK_SECONDS
        self.after_login = AFTER_LOGIN_SECONDS
        self.pending_seconds = PENDING_SECONDS
        self._online: dict[str, dict[str, float]] = {}            # bare JID -> full JID -> online since
        self._waiting: dict[tuple[str, str], Waiting] = {}        # (room, member) in bookmark order
        self._rooms_of: dict[str, set[str]] = {}                  # member -> rooms waited for
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}  # (room, full JID)
        component.add_event_handler("presence_available", self._on_available)
        component.add_event_handler("presence_unavailable", self._on_unavailable)
        component.add_event_handler("disconnected", self._on_disconnected)
        occupants.client_listeners.append(self._on_occupant)

    # --------------------------------------------------------------------------------- what MucRooms calls
    def expect(self, room: str, member_jid: str, reason: str) -> None:
        """The member was just given the room's bookmark: invite their clients that do not join."""
        member, now = JID(member_jid).bare, time.monotonic()
        self._prune(now)
        key = (room, member)
        self._waiting.pop(key, None)
        joined = {c for c in self.occupants.clients_in(room) if JID(c).bare == member}
        waiting = Waiting(reason, now, joined=joined)
        self._waiting[key] = waiting
        self._rooms_of.setdefault(member, set()).add(room)
        for full, since in self._online.get(member, {}).items():
            self._schedule(room, full, invitation_due(now, since, self.after_bookmark, self.after_login))
        log.debug("Room %s: waiting for %s to join (%d client(s) online)", room, member,
                  len(self._online.get(member, {})))

    def forget(self, room: str, member_jid: str) -> None:
        """The member lost the room: no invitation any more."""
        member = JID(member_jid).bare
        self._drop((room, member))

    # --------------------------------------------------------------------------------------- events
    def _is_users(self, presence: Presence) -> bool:
        sender = presence["from"]
        return (sender.domain == self.domain and bool(sender.user) and bool(sender.resource)
                and presence["to"].bare == self.component.boundjid.bare)

    def _on_available(self, presence: Presence) -> None:
        if not self._is_users(presence):
            return
        member, full = presence["from"].bare, presence["from"].full
        clients = self._online.setdefault(member, {})
        if full in clients:
            return  # a status change, not a login
        now = clients[full] = time.monotonic()
        for room in self._rooms_of.get(member, ()):
            waiting = self._waiting[(room, member)]
            self._schedule(room, full, invitation_due(waiting.bookmarked_at, now, self.after_bookmark,
                                                      self.after_login))

    def _on_unavailable(self, presence: Presence) -> None:
        if not self._is_users(presence):
            return
        member, full = presence["from"].bare, presence["from"].full
        clients = self._online.get(member)
        if clients is not None:
            clients.pop(full, None)
            if not clients:
                del self._online[member]
        for room in self._rooms_of.get(member, ()):
            timer = self._timers.pop((room, full), None)
            if timer is not None:
                timer.cancel()

    def _on_occupant(self, room: str, full: str, present: bool) -> None:
        if present and (waiting := self._waiting.get((room, JID(full).bare))) is not None:
            waiting.joined.add(full)

    def _on_disconnected(self, _event: object) -> None:
        # Prosody repeats every current presence after the reconnection: clients count as new logins then.
        self._online.clear()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # ----------------------------------------------------------------------------------- internals
    def _schedule(self, room: str, full: str, due: float) -> None:
        previous = self._timers.pop((room, full), None)
        if previous is not None:
            previous.cancel()
        delay = max(0.0, due - time.monotonic())
        self._timers[(room, full)] = self.component.loop.call_later(delay, self._check, room, full)

    def _check(self, room: str, full: str) -> None:
        self._timers.pop((room, full), None)
        member = JID(full).bare
        waiting = self._waiting.get((room, member))
        if waiting is None:
            return
        expired = time.monotonic() - waiting.bookmarked_at > self.pending_seconds
        online = full in self._online.get(member, {})
        was_in_room = full in waiting.joined or full in self.occupants.clients_in(room)
        if not should_invite(online, was_in_room, full in waiting.invited, expired):
            log.debug("Room %s: no invitation for %s (online %s, joined %s, invited %s)", room, full, online,
                      was_in_room, full in waiting.invited)
            return
        waiting.invited.add(full)
        self.send(room, full, waiting.reason)
        log.info("Room %s: invitation sent to %s, which did not join from the bookmark", room, full)

    def _drop(self, key: tuple[str, str]) -> None:
        room, member = key
        if self._waiting.pop(key, None) is None:
            return
        rooms = self._rooms_of.get(member)
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms_of[member]
        for full in list(self._online.get(member, {})):
            timer = self._timers.pop((room, full), None)
            if timer is not None:
                timer.cancel()

    def _prune(self, now: float) -> None:
        """Members' waits end after `pending_seconds` (the dict is in bookmark order)."""
        while self._waiting:
            key, waiting = next(iter(self._waiting.items()))
            if now - waiting.bookmarked_at <= self.pending_seconds:
                break
            self._drop(key)
