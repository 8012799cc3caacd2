"""Passing faults of the database, told apart from bugs: another writer holds the lock, a lock wait timed
out, the server is unreachable. The front doors answer them as 503 with Retry-After (errors.py), never as
500 "internal"."""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

from ..errors import DATABASE_BUSY, DATABASE_UNAVAILABLE, DomainError

# PostgreSQL SQLSTATEs: a lock or a statement waited too long, or the transaction lost a race; retry cures it.
_PG_BUSY = frozenset({"55P03", "57014", "40001", "40P01", "55006"})
# The server is going away, not accepting connections, out of connections or of disk.
_PG_UNAVAILABLE_PREFIXES = ("08", "53", "57P")
_SQLITE_BUSY = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_TIMEOUT",
                          "SQLITE_LOCKED_SHAREDCACHE", "SQLITE_BUSY_RECOVERY"})
_SQLITE_UNAVAILABLE = frozenset({"SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_READONLY",
                                 "SQLITE_PROTOCOL"})


def _sqlstate(error: BaseException | None) -> str | None:
    while error is not None:
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(state, str):
            return state
        error = error.__cause__
    return None


def database_fault(error: BaseException) -> DomainError | None:
    """The 503 answer for a passing database fault, or None when `error` is something else."""
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection came free in time
        return DomainError(DATABASE_BUSY, "the database is busy (no connection free); retry shortly")
    if isinstance(error, sa_exc.DBAPIError):
        orig = error.orig
        if isinstance(orig, sqlite3.Error):
            name = getattr(orig, "sqlite_errorname", "") or ""
            text = str(orig).lower()
            if name in _SQLITE_BUSY or "locked" in text:
                return DomainError(DATABASE_BUSY, "the database is locked by another writer; retry shortly")
            if name.startswith(tuple(_SQLITE_UNAVAILABLE)) or "disk" in text or "unable to open" in text:
                return DomainError(DATABASE_UNAVAILABLE, "the database cannot be written (disk or file)")
            return None
        state = _sqlstate(orig)
        if state in _PG_BUSY:
            return DomainError(DATABASE_BUSY, "the database is busy (a lock wait timed out); retry shortly")
        if state is not None and state.startswith(_PG_UNAVAILABLE_PREFIXES):
            return DomainError(DATABASE_UNAVAILABLE, "the database is not available; retry later")
        if error.connection_invalidated or isinstance(error, sa_exc.InterfaceError):
            return DomainError(DATABASE_UNAVAILABLE, "the connection to the database was lost; retry later")
        return None
    return None
