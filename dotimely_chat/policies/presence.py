"""A person's presence from the presences of their clients (one per resource), as pure functions.

RFC 6121 §4.7.2.1: an available presence may carry `<show>` `chat`, `away`, `xa` or `dnd`; without it the client
is plainly available. Every available presence, whatever its show, means a client is connected: the person is
online. With several clients the person's presence is the *most available* one's (its show, status text and
XEP-0319 idle time), ranked like Converse.js 14 ranks contacts (its STATUS_WEIGHTS): chat and plain available
first, then dnd (at the device, busy), away, xa. Among equals a client that is not idle wins, then the one idle
since the latest time (the person was active then), then the one heard from last.

Times come from outside (a client's `<idle since>`, the server's `<delay stamp>`): never in the future.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

SHOW_VALUES = ("chat", "away", "xa", "dnd")
# lower is more available; None is a plain available presence
_RANK: dict[str | None, int] = {"chat": 0, None: 0, "dnd": 1, "away": 2, "xa": 3}


@dataclass(frozen=True)
class ClientPresence:
    """What one client (resource) last said in an available presence."""

    show: str | None        # one of SHOW_VALUES, None for a plain available presence
    status: str | None      # its status text
    idle_since: dt.datetime | None
    heard: int = 0          # order in which presences were heard (larger = later)


@dataclass(frozen=True)
class PersonPresence:
    online: bool
    show: str | None
    status: str | None
    idle_since: dt.datetime | None


OFFLINE = PersonPresence(False, None, None, None)


def show_value(raw: str | None) -> str | None:
    """The `<show>` of a presence as we keep it: one of SHOW_VALUES or None (absent or empty; a value RFC 6121
    does not allow is taken as plainly available too, as slixmpp does)."""
    value = (raw or "").strip()
    return value if value in SHOW_VALUES else None


def _order(client: ClientPresence) -> tuple[int, int, float, int]:
    idle = client.idle_since
    return (_RANK[client.show], 0 if idle is None else 1, -(idle.timestamp() if idle else 0.0), -client.heard)


def combine(clients: Mapping[str, ClientPresence]) -> PersonPresence:
    """The person's presence from their connected clients (resource -> last available presence)."""
    if not clients:
        return OFFLINE
    best = min(clients.values(), key=_order)
    return PersonPresence(True, best.show, best.status, best.idle_since)


def idle_since(claimed: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """A client's XEP-0319 idle time, not later than now."""
    return None if claimed is None else min(claimed, now)


def last_seen(stamp: dt.datetime | None, received: dt.datetime) -> dt.datetime:
    """When a client went away: the server's stamp on its unavailable presence (a session that hibernated after
    losing its connection is ended, or shown gone, only later, stamped with when it lost it), else when we
    heard it; never in the future."""
    return received if stamp is None else min(stamp, received)
