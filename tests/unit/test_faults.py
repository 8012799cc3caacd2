"""Passing database faults are told apart from bugs, and become 503 + Retry-After / a 'wait' stanza error."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import exc as sa_exc

from dotimely_chat.component.adhoc_guard import as_stanza_error
from dotimely_chat.errors import BAD_REQUEST, DATABASE_BUSY, DATABASE_UNAVAILABLE, DomainError
from dotimely_chat.storage.faults import database_fault


class PgError(Exception):
    """Shaped like SQLAlchemy's asyncpg adapter errors: a `sqlstate`."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def wrapped(orig: BaseException, kind: type[sa_exc.DBAPIError] = sa_exc.OperationalError) -> sa_exc.DBAPIError:
    return kind("INSERT ...", {}, orig)  # type: ignore[arg-type]


@pytest.mark.parametrize(("error", "kind"), [
    (wrapped(sqlite3.OperationalError("database is locked")), DATABASE_BUSY),
    (wrapped(sqlite3.OperationalError("database table is locked")), DATABASE_BUSY),
    (wrapped(sqlite3.OperationalError("database or disk is full")), DATABASE_UNAVAILABLE),
    (wrapped(sqlite3.OperationalError("unable to open database file")), DATABASE_UNAVAILABLE),
    (wrapped(PgError("55P03")), DATABASE_BUSY),       # lock_not_available (lock_timeout)
    (wrapped(PgError("40P01")), DATABASE_BUSY),       # deadlock_detected
    (wrapped(PgError("57P03")), DATABASE_UNAVAILABLE),  # cannot_connect_now
    (wrapped(PgError("08006")), DATABASE_UNAVAILABLE),  # connection_failure
    (sa_exc.TimeoutError("QueuePool limit reached"), DATABASE_BUSY),
])
def test_passing_database_faults_are_503_with_retry_after(error: BaseException, kind: object) -> None:
    fault = database_fault(error)
    assert fault is not None and fault.kind is kind
    assert fault.kind.http_status == 503 and fault.retry_after and fault.http_headers()["Retry-After"]
    assert fault.to_json()["retry_after"] == fault.retry_after
    assert as_stanza_error(fault).etype == "wait"


@pytest.mark.parametrize("error", [
    ValueError("a bug"), wrapped(sqlite3.OperationalError("no such table: x")),
    wrapped(PgError("23505"), sa_exc.IntegrityError), wrapped(PgError("42P01"), sa_exc.ProgrammingError),
    OSError("disk full"),
])
def test_anything_else_is_not_a_passing_fault(error: BaseException) -> None:
    assert database_fault(error) is None


def test_a_domain_error_without_retry_after_is_a_cancel_stanza_error() -> None:
    error = DomainError(BAD_REQUEST, "no", field="x")
    assert error.http_headers() == {} and "retry_after" not in error.to_json()
    stanza_error = as_stanza_error(error)
    assert (stanza_error.condition, stanza_error.etype) == ("bad-request", "cancel")
