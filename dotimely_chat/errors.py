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
BUSINESS_DELETED = ErrorKind("business_deleted", 409, "conflict")
UNAVAILABLE = ErrorKind("unavailable", 503, "service-unavailable")
INTERNAL = ErrorKind("internal", 500, "internal-server-error")


class DomainError(Exception):
    """An error a peer may see: `kind` decides the status; `message` is safe to show."""

    def __init__(self, kind: ErrorKind, message: str, **details: Any) -> None:
        super().__init__(message)
        self.kind, self.message, self.details = kind, message, details

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"errcode": self.kind.errcode, "error": self.message}
        if self.details:
            body["details"] = self.details
        return body
