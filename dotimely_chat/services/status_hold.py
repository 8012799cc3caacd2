"""Live room events kept aside per room until the room's archive is read (`StatusRecorder.hold`).

After a (re)connection the rooms' archives are read first (`services.status_backfill`), so that what was
said while we were away is recorded before what follows it: a marker covers the messages *before* it, by
id. A live message that the archive also holds is recorded once, as seen live (who was present), at the
archive's place. The recorder holds from the start, until the first back-fill.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .status_batch import Event


class LiveHold:
    def __init__(self, enqueue: Callable[[Event], None]) -> None:
        self.enqueue = enqueue
        self.holding = True
        self.generation = 1
        self._held: dict[str, list[tuple[Event, str | None]]] = {}  # room -> (event, stanza-id of a message)
        # room -> stanza-id -> held live message not yet placed by the archive
        self._messages: dict[str, dict[str, Event]] = {}
        self._released: set[str] = set()

    @property
    def held(self) -> int:
        return sum(len(events) for events in self._held.values())

    def hold(self) -> None:
        """From now until each room is released: keep its live events aside."""
        self.generation += 1
        self.holding = True
        self._released.clear()

    def place(self, room_jid: str, kind: str, payload: tuple[Any, ...], stanza_id: str | None = None) -> None:
        """A live event of the room: held while its archive is unread, else queued (`stanza_id`: a
        message's)."""
        event = (time.monotonic(), kind, payload)
        if self.holding and room_jid not in self._released:
            self._held.setdefault(room_jid, []).append((event, stanza_id))
            if stanza_id is not None:
                self._messages.setdefault(room_jid, {})[stanza_id] = event
        else:
            self.enqueue(event)

    def seen_live(self, room_jid: str, stanza_id: str) -> Event | None:
        """The held live copy of an archived message (taken: the archive places it), if one was seen."""
        return self._messages.get(room_jid, {}).pop(stanza_id, None)

    def release(self, room_jid: str) -> None:
        """The room's archive is read: its held live events follow, and new ones go straight through."""
        waiting = self._messages.pop(room_jid, {})
        for event, stanza_id in self._held.pop(room_jid, []):
            if stanza_id is None or stanza_id in waiting:  # not placed by the archive yet
                self.enqueue(event)
        self._released.add(room_jid)

    def release_all(self) -> None:
        """Every room's archive was read (or could not be): stop holding."""
        self.holding = False
        for room_jid in list(self._held):
            self.release(room_jid)
        self._released.clear()
