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
    `Retry-After`, the XMPP error is of type 'wait'); None for errors a retry does not cure.
    `stanza_type`: the XMPP error type (modify | wait | cancel | auth) where the kind fixes it, as XEP-0363
    does for upload refusals; None: 'wait' for a passing fault, else 'cancel'."""

    errcode: str
    http_status: int
    stanza_condition: ErrorConditions  # an RFC 6120 defined condition
    retry_after: int | None = None
    stanza_type: str | None = None


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

# Attachments, by reason (policies.uploads' reasons at slot time, then the PUT's and GET's): the slot IQ's
# error (XEP-0363 §4) and the PUT/GET's status come from the same row, as in Prosody's mod_http_file_share.
# The reason also labels dotimely_upload_refusals_total.
UPLOAD_ERRORS: dict[str, ErrorKind] = {
    # at slot time
    "not_a_member": ErrorKind("forbidden", 403, "forbidden", stanza_type="auth"),
    "bad_request": ErrorKind("bad_request", 400, "bad-request", stanza_type="modify"),
    "type_not_allowed": ErrorKind("type_not_allowed", 415, "not-acceptable", stanza_type="modify"),
    "file_too_large": ErrorKind("file_too_large", 413, "not-acceptable", stanza_type="modify"),
    "quota_reached": ErrorKind("quota_reached", 429, "resource-constraint", stanza_type="wait"),
    # at PUT/GET time
    "wrong_token": ErrorKind("forbidden", 403, "forbidden", stanza_type="auth"),
    "expired": ErrorKind("slot_expired", 410, "not-acceptable", stanza_type="modify"),
    "already_uploaded": ErrorKind("already_uploaded", 409, "conflict", stanza_type="cancel"),
    "upload_in_progress": ErrorKind("upload_in_progress", 409, "conflict", stanza_type="wait"),
    "size_mismatch": ErrorKind("size_mismatch", 400, "bad-request", stanza_type="modify"),
    "type_mismatch": ErrorKind("type_mismatch", 415, "not-acceptable", stanza_type="modify"),
    "not_found": ErrorKind("not_found", 404, "item-not-found", stanza_type="cancel"),
    "unavailable": ErrorKind("unavailable", 503, "service-unavailable", stanza_type="wait"),
    "interrupted": ErrorKind("upload_interrupted", 400, "bad-request", stanza_type="modify"),
    "storage_full": ErrorKind("storage_full", 507, "resource-constraint", stanza_type="wait"),
}


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

    @property
    def stanza_type(self) -> str:
        """The XMPP error type: the kind's, else 'wait' for a passing fault and 'cancel' otherwise."""
        return self.kind.stanza_type or ("wait" if self.retry_after else "cancel")


class LinkUnavailable(DomainError):
    """The XMPP link to the server is down (or stalled): what needs it cannot be done now; try again soon.

    Raised before anything is sent when the link is known to be down, and when the server does not answer
    (a lost link is noticed by the keepalive ping within seconds; see component.link)."""

    def __init__(self, message: str) -> None:
        super().__init__(XMPP_UNAVAILABLE, message)


class UploadError(DomainError):
    """An attachment refused: `reason` names its row in UPLOAD_ERRORS; `max_size` goes into XEP-0363's
    <file-too-large> and the HTTP body; `details` are for the log only."""

    def __init__(self, reason: str, message: str, max_size: int | None = None, **details: Any) -> None:
        super().__init__(UPLOAD_ERRORS[reason], message, **details)
        self.reason, self.max_size = reason, max_size

    def to_json(self) -> dict[str, Any]:
        """The body of a refused PUT or GET."""
        body: dict[str, Any] = {"errcode": self.kind.errcode, "error": self.message}
        if self.max_size is not None:
            body["max_file_size"] = self.max_size
        return body
