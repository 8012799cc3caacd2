"""Domain errors and the one table that maps them to an XMPP stanza error and an HTTP status + errcode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slixmpp.types import ErrorConditions


class ConfigError(Exception):
    """A config value is wrong. The message names the key path, the value and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"config key '{key}': value {value!r} is not allowed; expected {allowed}")


@dataclass(frozen=True)
class ErrorKind:
    """`retry_after`: seconds after which a retry may succeed (a passing fault: the HTTP answer carries
    `Retry-After`, the XMPP error is of type 'wait'); None for errors a retry does not cure."""

    errcode: str
    http_status: int
    stanza_condition: ErrorConditions
    retry_after: int | None = None


# One table for both front doors (Prosody's util.error style).
NOT_FOUND = ErrorKind("not_found", 404, "item-not-found")
BAD_REQUEST = ErrorKind("bad_request", 400, "bad-request")
FORBIDDEN = ErrorKind("forbidden", 403, "forbidden")
UNAUTHORIZED = ErrorKind("unauthorized", 401, "not-authorized")
CONFLICT = ErrorKind("conflict", 409, "conflict")
LAST_OWNER = ErrorKind("last_owner", 409, "not-allowed")
BUSINESS_DELETED = ErrorKind("business_deleted", 409, "conflict")
UNAVAILABLE = ErrorKind("unavailable", 503, "service-unavailable")
UNSUPPORTED_MEDIA_TYPE = ErrorKind("unsupported_media_type", 415, "bad-request")
TOO_LARGE = ErrorKind("too_large", 413, "not-acceptable")
# Passing faults of the database: another writer holds the lock (SQLite) or a lock wait timed out
# (PostgreSQL lock_timeout), or the database cannot be reached at all.
DATABASE_BUSY = ErrorKind("database_busy", 503, "resource-constraint", retry_after=2)
DATABASE_UNAVAILABLE = ErrorKind("database_unavailable", 503, "service-unavailable", retry_after=5)
LINK_RETRY_AFTER_SECONDS = 5
XMPP_UNAVAILABLE = ErrorKind("xmpp_unavailable", 503, "remote-server-timeout",
                             retry_after=LINK_RETRY_AFTER_SECONDS)
INTERNAL = ErrorKind("internal", 500, "internal-server-error")


class DomainError(Exception):
    """An error a peer may see: `kind` decides the status; `message` is safe to show. `retry_after`
    overrides the kind's (seconds; None keeps the kind's)."""

    def __init__(self, kind: ErrorKind, message: str, *, retry_after: int | None = None, **details: Any) -> None:
        super().__init__(message)
        self.kind, self.message, self.details = kind, message, details
        self.retry_after = retry_after if retry_after is not None else kind.retry_after

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"errcode": self.kind.errcode, "error": self.message}
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        if self.details:
            body["details"] = self.details
        return body

    def http_headers(self) -> dict[str, str]:
        """`Retry-After` for passing faults (RFC 9110 §10.2.3)."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class LinkUnavailable(DomainError):
    """The XMPP link to the server is down (or stalled): what needs it cannot be done now; try again soon.

    Raised before anything is sent when the link is known to be down, and when the server does not answer
    (a lost link is noticed by the keepalive ping within seconds; see component.link)."""

    def __init__(self, message: str) -> None:
        super().__init__(XMPP_UNAVAILABLE, message)
