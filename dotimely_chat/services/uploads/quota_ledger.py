"""Each person's upload usage of the last 24 hours, kept in memory by the one process that writes uploads.

The database stays the truth: a person's usage is loaded from it on first use (files stored in the window,
unused slots not expired), then kept in step by the slot writer — slots reserved when decided, released when
their transaction fails or their file is refused, turned into files when their row is committed. Expired
slots and files older than the window stop counting when usage is read, as the SQL count does.

Files removed by retention or a deleted business keep counting here until they leave the window: the
ledger errs on the side of refusing, never on letting two requests both fit.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

QUOTA_WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True)
class UsageRow:
    """From storage: a file stored in the window (`at`: when) or an unused slot (`at`: when it expires)."""

    file_id: str
    size: int
    at: dt.datetime
    is_slot: bool


@dataclass
class _Usage:
    files: deque[tuple[dt.datetime, int]] = field(default_factory=deque)  # (stored at, size), oldest first
    slots: dict[str, tuple[int, dt.datetime]] = field(default_factory=dict)  # file id -> (size, expires at)
    file_bytes: int = 0
    slot_bytes: int = 0

    def add_file(self, at: dt.datetime, size: int) -> None:
        self.files.append((at, size))
        self.file_bytes += size

    def add_slot(self, file_id: str, size: int, expires_at: dt.datetime) -> None:
        self.drop_slot(file_id)
        self.slots[file_id] = (size, expires_at)
        self.slot_bytes += size

    def drop_slot(self, file_id: str) -> None:
        slot = self.slots.pop(file_id, None)
        if slot is not None:
            self.slot_bytes -= slot[0]


class QuotaLedger:
    """Bytes used per person id: files stored in the window plus open slots."""

    def __init__(self, window: dt.timedelta = QUOTA_WINDOW) -> None:
        self.window = window
        self._people: dict[int, _Usage] = {}

    def knows(self, person_id: int) -> bool:
        return person_id in self._people

    def load(self, person_id: int, rows: Iterable[UsageRow]) -> None:
        """A person's usage as storage has it (replaces what was known)."""
        usage = _Usage()
        for row in sorted(rows, key=lambda r: r.at):
            if row.is_slot:
                usage.add_slot(row.file_id, row.size, row.at)
            else:
                usage.add_file(row.at, row.size)
        self._people[person_id] = usage

    def used(self, person_id: int, now: dt.datetime) -> int:
        """Bytes counted toward the quota now (the person must be loaded); forgets what no longer counts:
        files stored before the window, slots expired (as the SQL count: `expires_at > now`)."""
        usage = self._people[person_id]
        since = now - self.window
        while usage.files and usage.files[0][0] < since:
            usage.file_bytes -= usage.files.popleft()[1]
        if usage.slots and min(expires_at for _, expires_at in usage.slots.values()) <= now:
            for file_id in [f for f, (_, expires_at) in usage.slots.items() if expires_at <= now]:
                usage.drop_slot(file_id)
        return usage.file_bytes + usage.slot_bytes

    def reserve(self, person_id: int, file_id: str, size: int, expires_at: dt.datetime) -> None:
        self._people[person_id].add_slot(file_id, size, expires_at)

    def release(self, person_id: int, file_id: str) -> None:
        """A slot that will never hold a file (its insert failed, or it was withdrawn)."""
        usage = self._people.get(person_id)
        if usage is not None:
            usage.drop_slot(file_id)

    def stored(self, person_id: int, file_id: str, size: int, at: dt.datetime) -> None:
        """The slot's file row is committed: it counts as a file from now on."""
        usage = self._people.get(person_id)
        if usage is None:
            return  # not loaded: the first use reads the file from storage
        usage.drop_slot(file_id)
        usage.add_file(at, size)

    def prune(self, now: dt.datetime) -> int:
        """Forget people whose usage is nothing now (housekeeping); returns how many."""
        idle = [p for p in self._people if self.used(p, now) == 0]
        for person_id in idle:
            del self._people[person_id]
        return len(idle)

    def forget(self, person_id: int) -> None:
        self._people.pop(person_id, None)
