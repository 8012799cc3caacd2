"""Export rules, from tables, without a server."""

from __future__ import annotations

import datetime as dt

import pytest

from dotimely_chat.policies.exports import (
    ExportRequestError,
    link_state,
    may_export,
    parse_format,
    parse_range,
    retention_cutoff,
)

NOW = dt.datetime(2026, 3, 10, 15, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(("role", "backend", "allowed"), [
    ("owner", False, True), ("staff", False, False), ("customer", False, False), (None, False, False),
    (None, True, True), ("staff", True, False)])
def test_only_owners_or_the_backend_export(role: str | None, backend: bool, allowed: bool) -> None:
    decision = may_export(role, via_backend_token=backend)  # type: ignore[arg-type]
    assert decision.allowed is allowed and decision.reason


@pytest.mark.parametrize(("raw_from", "raw_to", "start", "end"), [
    (None, None, NOW - dt.timedelta(days=30), NOW),
    ("2026-03-01", "2026-03-09", dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.datetime(2026, 3, 10, tzinfo=dt.UTC)),
    ("2026-03-01T10:00:00+02:00", None, dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC), NOW),
    ("2026-03-01T10:00:00Z", "2026-03-02T00:00:00Z", dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC),
     dt.datetime(2026, 3, 2, tzinfo=dt.UTC)),
])
def test_ranges(raw_from: str | None, raw_to: str | None, start: dt.datetime, end: dt.datetime) -> None:
    got = parse_range(raw_from, raw_to, NOW)
    assert (got.start, got.end) == (start, end)


@pytest.mark.parametrize(("raw_from", "raw_to", "parameter", "words"), [
    ("last week", None, "from", "ISO 8601"),
    ("2026-03-01T10:00:00", None, "from", "time zone"),
    (None, "tomorrow", "to", "ISO 8601"),
    ("2026-03-09", "2026-03-01", "from", "before 'to'"),
    ("2026-03-01", "2026-03-01T00:00:00Z", "from", "before 'to'"),
    ("2010-01-01", None, "from", "at most 3660 days"),
    (None, "2026-03-20", "to", "no later than"),
])
def test_bad_ranges_name_the_parameter_value_and_what_is_allowed(raw_from: str | None, raw_to: str | None,
                                                                 parameter: str, words: str) -> None:
    with pytest.raises(ExportRequestError) as raised:
        parse_range(raw_from, raw_to, NOW)
    error = raised.value
    assert error.parameter == parameter and words in str(error)
    assert repr(raw_from if parameter == "from" else raw_to) in str(error)


@pytest.mark.parametrize(("raw", "fmt"), [(None, "jsonl"), ("jsonl", "jsonl"), ("HTML", "html"), (" html ", "html")])
def test_formats(raw: str | None, fmt: str) -> None:
    assert parse_format(raw) == fmt


@pytest.mark.parametrize("raw", ["pdf", "", "json"])
def test_bad_formats(raw: str) -> None:
    with pytest.raises(ExportRequestError, match="format: .* expected 'jsonl' or 'html'"):
        parse_format(raw)


def test_links_work_once_and_expire() -> None:
    later = NOW + dt.timedelta(hours=1)
    assert link_state(later, None, NOW) is None
    assert link_state(later, NOW, NOW) == "used"
    assert link_state(NOW, None, NOW) == "expired"


def test_retention_cutoff() -> None:
    assert retention_cutoff(None, NOW) is None
    assert retention_cutoff(86400 * 30, NOW) == NOW - dt.timedelta(days=30)
