"""Rules of exports (PRODUCT.md §5): who may export a business, which ranges and formats are accepted, how
long a download link lives, and how long the component's own records are kept.

Standard library only; every refusal names the parameter, the value and what is allowed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal, get_args

from .roles import Role
from .text import EARLIEST_YEAR, LATEST_YEAR, within_calendar

ExportFormat = Literal["jsonl", "html"]
EXPORT_FORMATS: Final[tuple[ExportFormat, ...]] = get_args(ExportFormat)
MAX_RANGE: Final = dt.timedelta(days=3660)  # ten years: more than any retention we accept
LINK_LIFETIME: Final = dt.timedelta(hours=24)
DEFAULT_DAYS: Final = 30


class ExportRequestError(ValueError):
    """A bad export request: `parameter`, `value` and `allowed` say what is wrong."""

    def __init__(self, parameter: str, value: object, allowed: str) -> None:
        self.parameter, self.value, self.allowed = parameter, value, allowed
        super().__init__(f"{parameter}: {value!r} is not allowed; expected {allowed}")


@dataclass(frozen=True)
class ExportDecision:
    allowed: bool
    reason: str


@dataclass(frozen=True)
class ExportRange:
    start: dt.datetime  # inclusive
    end: dt.datetime    # exclusive


def may_export(requester_role: Role | None, via_backend_token: bool = False) -> ExportDecision:
    """Only the business's owners (or the booking backend with its token) export a business."""
    if via_backend_token and requester_role is None:
        return ExportDecision(True, "the booking backend exports any business")
    if requester_role == "owner":
        return ExportDecision(True, "owners export their own business")
    if requester_role is None:
        return ExportDecision(False, "only owners of this business may export it; you are not in it")
    return ExportDecision(False, f"only owners of this business may export it, not {requester_role}")


def parse_instant(parameter: str, raw: str) -> dt.datetime:
    """An ISO 8601 date (midnight UTC) or date-time with a time zone, as an aware UTC datetime."""
    allowed = "an ISO 8601 date (2026-01-31) or date-time with a time zone (2026-01-31T09:00:00Z)"
    text = raw.strip()
    if not text.isascii():  # fromisoformat would take other digits
        raise ExportRequestError(parameter, raw[:60], allowed)
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ExportRequestError(parameter, raw, allowed) from None
    if moment.tzinfo is None:
        raise ExportRequestError(parameter, raw, allowed + "; this one has no time zone")
    if not within_calendar(moment):  # a day or 30 days added or taken must stay in datetime's range
        raise ExportRequestError(parameter, raw, f"a time in the years {EARLIEST_YEAR} to {LATEST_YEAR}")
    return moment.astimezone(dt.UTC)


def parse_range(raw_from: str | None, raw_to: str | None, now: dt.datetime) -> ExportRange:
    """`from` (default: 30 days before `to`) and `to` (default: now; a date means the end of that day).
    `from` must be before `to`, `to` not after now + 1 day, the span at most ten years."""
    end = now if raw_to is None else parse_instant("to", raw_to)
    if raw_to is not None and len(raw_to.strip()) == 10:
        end += dt.timedelta(days=1)  # to=2026-01-31 includes that day
    start = end - dt.timedelta(days=DEFAULT_DAYS) if raw_from is None else parse_instant("from", raw_from)
    if end > now + dt.timedelta(days=1):
        raise ExportRequestError("to", raw_to, f"a time no later than tomorrow ({(now + dt.timedelta(days=1)):%Y-%m-%d})")
    if start >= end:
        raise ExportRequestError("from", raw_from, f"a time before 'to' ({end.isoformat()})")
    if end - start > MAX_RANGE:
        raise ExportRequestError("from", raw_from, f"a range of at most {MAX_RANGE.days} days")
    return ExportRange(start, end)


def parse_format(raw: str | None) -> ExportFormat:
    """'jsonl' (default) or 'html'."""
    value = "jsonl" if raw is None else raw.strip().lower()
    for fmt in EXPORT_FORMATS:
        if value == fmt:
            return fmt
    raise ExportRequestError("format", raw, " or ".join(f"'{f}'" for f in EXPORT_FORMATS))


def link_state(expires_at: dt.datetime, used_at: dt.datetime | None, now: dt.datetime) -> str | None:
    """None when a download link may be used; otherwise why not ('used' or 'expired')."""
    if used_at is not None:
        return "used"
    if expires_at <= now:
        return "expired"
    return None


def retention_cutoff(retention_seconds: int | None, now: dt.datetime) -> dt.datetime | None:
    """Records older than this are deleted; None keeps everything (`archive.retention = "never"`). The
    component's records (room messages, their status, the audit log) follow the same retention as the
    server's archives: an audit entry outlives nothing it describes and is kept as long as the messages."""
    if retention_seconds is None:
        return None
    return now - dt.timedelta(seconds=retention_seconds)
