"""Passing faults of the database as the front doors see them, without importing storage.

A lock held by another writer, a lock wait that timed out, a server out of reach: these are answered as
503 with Retry-After (HTTP) or a 'wait' stanza error (XMPP), never as a bug. The classification of the
driver's exceptions is storage's (`storage/faults.py`); the bound on lock waits is storage's context
variable (`storage/database.py`). A front door uses these two functions only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import DomainError
from ..storage.database import bounded_lock_waits
from ..storage.faults import database_fault


def passing_fault(error: BaseException) -> DomainError | None:
    """The domain error (DATABASE_BUSY or DATABASE_UNAVAILABLE, with a retry_after) of a passing database
    fault, or None when `error` is something else (a bug: let it be answered as internal)."""
    return database_fault(error)


@contextmanager
def lock_waits_at_most(seconds: float) -> Iterator[None]:
    """Within this block (and tasks started from it), a statement waits at most `seconds` for a lock another
    writer holds; then it fails with a fault `passing_fault` turns into DATABASE_BUSY. For requests of the
    front doors, so that a locked database is answered fast; background work waits the default."""
    with bounded_lock_waits(seconds):
        yield
