"""The one error table for attachments (errors.UPLOAD_ERRORS): every refusal's XMPP error and HTTP answer,
as clients have always seen them (XEP-0363 §4 for the slot IQ; the PUT/GET's status and errcode)."""

from __future__ import annotations

import pytest

from dotimely_chat.errors import DATABASE_BUSY, NOT_FOUND, UPLOAD_ERRORS, DomainError, UploadError
from dotimely_chat.policies.uploads import REASONS

# reason: (HTTP status, errcode, XMPP error type, XMPP condition)
EXPECTED = {
    "not_a_member": (403, "forbidden", "auth", "forbidden"),
    "bad_request": (400, "bad_request", "modify", "bad-request"),
    "type_not_allowed": (415, "type_not_allowed", "modify", "not-acceptable"),
    "file_too_large": (413, "file_too_large", "modify", "not-acceptable"),
    "quota_reached": (429, "quota_reached", "wait", "resource-constraint"),
    "wrong_token": (403, "forbidden", "auth", "forbidden"),
    "expired": (410, "slot_expired", "modify", "not-acceptable"),
    "already_uploaded": (409, "already_uploaded", "cancel", "conflict"),
    "upload_in_progress": (409, "upload_in_progress", "wait", "conflict"),
    "size_mismatch": (400, "size_mismatch", "modify", "bad-request"),
    "type_mismatch": (415, "type_mismatch", "modify", "not-acceptable"),
    "not_found": (404, "not_found", "cancel", "item-not-found"),
    "unavailable": (503, "unavailable", "wait", "service-unavailable"),
    "interrupted": (400, "upload_interrupted", "modify", "bad-request"),
    "storage_full": (507, "storage_full", "wait", "resource-constraint"),
}


@pytest.mark.parametrize(("reason", "expected"), EXPECTED.items())
def test_each_refusal_has_one_row_for_the_stanza_error_and_the_http_answer(reason: str,
                                                                          expected: tuple[int, str, str, str]
                                                                          ) -> None:
    exc = UploadError(reason, "why")
    assert (exc.kind.http_status, exc.kind.errcode, exc.stanza_type, exc.kind.stanza_condition) == expected
    assert exc.retry_after is None and exc.http_headers() == {}


def test_the_table_holds_exactly_the_known_reasons_and_every_policy_reason() -> None:
    assert set(UPLOAD_ERRORS) == set(EXPECTED)
    assert set(REASONS) <= set(UPLOAD_ERRORS)


def test_an_unknown_reason_is_a_programming_error_at_once() -> None:
    with pytest.raises(KeyError):
        UploadError("no_such_reason", "why")


def test_the_http_body_carries_the_errcode_the_message_and_the_maximum_but_never_log_details() -> None:
    too_large = UploadError("file_too_large", "the slot is for 10 bytes", 10, cause="ENOSPC")
    assert too_large.to_json() == {"errcode": "file_too_large", "error": "the slot is for 10 bytes",
                                   "max_file_size": 10}
    full = UploadError("storage_full", "the upload storage is full; try again later", cause="No space left")
    assert full.to_json() == {"errcode": "storage_full", "error": "the upload storage is full; try again later"}
    assert full.details == {"cause": "No space left"}


def test_other_domain_errors_take_their_stanza_type_from_retry_after() -> None:
    assert DomainError(NOT_FOUND, "x").stanza_type == "cancel"
    assert DomainError(DATABASE_BUSY, "x").stanza_type == "wait"
    assert DomainError(NOT_FOUND, "x", retry_after=3).stanza_type == "wait"
