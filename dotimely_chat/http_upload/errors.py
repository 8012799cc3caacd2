"""One error table for attachments: each refusal's XMPP error (XEP-0363 §4) and HTTP status (Prosody's
mod_http_file_share style: the same reason serves the slot IQ and the PUT/GET)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UploadErrorKind:
    errcode: str
    http_status: int
    stanza_type: str  # XMPP error type: modify | wait | cancel | auth
    condition: str  # RFC 6120 defined condition


UPLOAD_ERRORS: dict[str, UploadErrorKind] = {
    # at slot time (policies.uploads reasons)
    "not_a_member": UploadErrorKind("forbidden", 403, "auth", "forbidden"),
    "bad_request": UploadErrorKind("bad_request", 400, "modify", "bad-request"),
    "type_not_allowed": UploadErrorKind("type_not_allowed", 415, "modify", "not-acceptable"),
    "file_too_large": UploadErrorKind("file_too_large", 413, "modify", "not-acceptable"),
    "quota_reached": UploadErrorKind("quota_reached", 429, "wait", "resource-constraint"),
    # at PUT/GET time
    "wrong_token": UploadErrorKind("forbidden", 403, "auth", "forbidden"),
    "expired": UploadErrorKind("slot_expired", 410, "modify", "not-acceptable"),
    "already_uploaded": UploadErrorKind("already_uploaded", 409, "cancel", "conflict"),
    "upload_in_progress": UploadErrorKind("upload_in_progress", 409, "wait", "conflict"),
    "size_mismatch": UploadErrorKind("size_mismatch", 400, "modify", "bad-request"),
    "type_mismatch": UploadErrorKind("type_mismatch", 415, "modify", "not-acceptable"),
    "not_found": UploadErrorKind("not_found", 404, "cancel", "item-not-found"),
    "unavailable": UploadErrorKind("unavailable", 503, "wait", "service-unavailable"),
    "interrupted": UploadErrorKind("upload_interrupted", 400, "modify", "bad-request"),
    "storage_full": UploadErrorKind("storage_full", 507, "wait", "resource-constraint"),
}


class UploadError(Exception):
    """A refusal a peer may see: `message` is safe to show; `max_size` goes into <file-too-large>."""

    def __init__(self, reason: str, message: str, max_size: int | None = None, **details: Any) -> None:
        super().__init__(message)
        self.reason, self.message, self.max_size, self.details = reason, message, max_size, details

    @property
    def kind(self) -> UploadErrorKind:
        return UPLOAD_ERRORS[self.reason]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"errcode": self.kind.errcode, "error": self.message}
        if self.max_size is not None:
            body["max_file_size"] = self.max_size
        if self.details:
            body["details"] = self.details
        return body
