"""Checks of request input shared by the use cases: each refusal is a `bad_request` naming the field."""

from __future__ import annotations

from typing import Any

from ..errors import BAD_REQUEST, DomainError
from ..policies.text import is_plain_id, non_xml_text_reason

MAX_EXTERNAL_ID = 128


def invalid(field: str, message: str) -> DomainError:
    return DomainError(BAD_REQUEST, f"{field}: {message}", field=field)


def check_external_id(kind: str, value: str) -> str:
    """An id of the booking backend: 1 to 128 characters, no control or format characters."""
    if not isinstance(value, str) or not is_plain_id(value, MAX_EXTERNAL_ID):
        raise invalid(kind, f"an id of 1 to {MAX_EXTERNAL_ID} printable characters is required")
    return value


def refuse_unknown_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """A body with a key we do not know is refused, naming the key (or 'body' for one that is no name)."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        name = unknown[0]
        field = name if is_plain_id(name, 64) else "body"
        shown = "" if field == name else f" {name[:40]!r}"
        raise invalid(field, f"unknown field{shown} (allowed: {', '.join(allowed)})")


def check_xml_text(field: str, value: str | None) -> str | None:
    """Refuse text that XML cannot carry: it would reach a stanza (policies/text.py)."""
    if value is not None:
        reason = non_xml_text_reason(value)
        if reason:
            raise invalid(field, reason)
    return value
