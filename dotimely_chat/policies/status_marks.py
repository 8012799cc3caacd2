"""What a member's receipts, markers and room entries cover (PRODUCT.md §3), as pure functions.

A receipt or `received` marker for a message delivers it and every earlier message of the room to that member;
a `displayed` marker also reads them; entering the room delivers everything up to the room's latest message.
Each member keeps two marks per room (delivered up to, read up to, as message ids): a new event only covers the
messages past the mark, and a message takes the time of the first event that covered it. Events that cover
nothing new (repeated, or older than the mark) change nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Coverage:
    """One event of a member: everything up to message id `upto` delivered (and read when `read`)."""

    room_id: int
    person_id: int
    upto: int
    at: dt.datetime
    via: str  # receipt | marker | join
    read: bool


@dataclass(frozen=True)
class CoveredRange:
    """Messages `after` < id <= `upto` of the member, to mark delivered (via) or read at `at`."""

    room_id: int
    person_id: int
    after: int
    upto: int
    at: dt.datetime
    via: str


@dataclass
class CoveragePlan:
    delivered: list[CoveredRange]
    read: list[CoveredRange]
    marks: dict[tuple[int, int], tuple[int, int]]  # (room, person) -> (delivered up to, read up to), changed only


def plan_coverage(events: Iterable[Coverage], marks: Mapping[tuple[int, int], tuple[int, int]]) -> CoveragePlan:
    """The ranges to update for `events` (in the order they happened), given the members' current marks."""
    current = dict(marks)
    plan = CoveragePlan(delivered=[], read=[], marks={})
    for event in events:
        key = (event.room_id, event.person_id)
        delivered_upto, read_upto = current.get(key, (0, 0))
        changed = False
        if event.upto > delivered_upto:
            plan.delivered.append(CoveredRange(event.room_id, event.person_id, delivered_upto, event.upto,
                                               event.at, event.via))
            delivered_upto, changed = event.upto, True
        if event.read and event.upto > read_upto:
            plan.read.append(CoveredRange(event.room_id, event.person_id, read_upto, event.upto, event.at,
                                          event.via))
            read_upto, changed = event.upto, True
        if changed:
            current[key] = plan.marks[key] = (delivered_upto, read_upto)
    return plan


def pick_reference(candidates: Iterable[tuple[int, int]]) -> int | None:
    """The message a marker names among (priority, message id) matches: the room's stanza-id first
    (priority 0), else the sender's origin-id (1), else the message id (2) — clients differ (COMPAT.md §5);
    the latest message when ids repeat."""
    best: tuple[int, int] | None = None
    for priority, message_id in candidates:
        if best is None or (priority, -message_id) < (best[0], -best[1]):
            best = (priority, message_id)
    return best[1] if best else None
