"""Domain errors and the one table that maps them to an XMPP stanza error and an HTTP status + errcode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ConfigError(Exception):
    """A config value is wrong. The message names the key path, the value and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"config key '{key}': value {value!r} is not allowed; expected {allowed}")


@dataclass(frozen=True)
class ErrorKind:
    errcode: str
    http_status: int
    stanza_condition: str


# One table for both front doors (Prosody's util.error style).
NOT_FOUND = ErrorKind("not_found", 404, "item-not-found")
BAD_REQUEST = ErrorKind("bad_request", 400, "bad-request")
FORBIDDEN = ErrorKind("forbidden", 403, "forbidden")
UNAUTHORIZED = ErrorKind("unauthorized", 401, "not-authorized")
CONFLICT = ErrorKind("conflict", 409, "conflict")
LAST_OWNER = ErrorKind("last_owner", 409, "not-allowed")
UNAVAILABLE = ErrorKind("unavailable", 503, "service-unavailable")
XMPP_UNAVAILABLE = ErrorKind("xmpp_unavailable", 503, "remote-server-timeout")
INTERNAL = ErrorKind("internal", 500, "internal-server-error")


class DomainError(Exception):
    """An error a peer may see: `kind` decides the status; `message` is safe to show."""

    retry_after: int | None = None  # seconds; the HTTP answer carries Retry-After when set

    def __init__(self, kind: ErrorKind, message: str, **details: Any) -> None:
        super().__init__(message)
        self.kind, self.message, self.details = kind, message, details

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"errcode": self.kind.errcode, "error": self.message}
        if self.details:
            body["details"] = self.details
        return body


LINK_RETRY_AFTER_SECONDS = 5


class LinkUnavailable(DomainError):
    """The XMPP link to the server is down (or stalled): what needs it cannot be done now; try again soon.

    Raised before anything is sent when the link is known to be down, and when the server does not answer
    (a lost link is noticed by the keepalive ping within seconds; see component.link)."""

    retry_after = LINK_RETRY_AFTER_SECONDS

    def __init__(self, message: str) -> None:
        super().__init__(XMPP_UNAVAILABLE, message)
