"""The quota ledger: each person's usage of the last 24 hours in memory, counted as the SQL count does."""

from __future__ import annotations

import datetime as dt

import pytest

from dotimely_chat.services.uploads.quota_ledger import QuotaLedger, UsageRow

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def loaded() -> QuotaLedger:
    ledger = QuotaLedger()
    ledger.load(1, [UsageRow("f1", 100, NOW - 23 * H, False), UsageRow("f0", 1000, NOW - 24 * H, False),
                    UsageRow("s1", 10, NOW + H, True), UsageRow("s0", 7, NOW, True)])
    return ledger


@pytest.mark.parametrize(("at", "used"), [
    (NOW, 1110),                 # both files in the window (>= since), the slot open; s0 expires at NOW
    (NOW - dt.timedelta(seconds=1), 1117),
    (NOW + dt.timedelta(seconds=1), 110),  # f0 left the window
    (NOW + H, 100),              # s1 expired (expires_at > now counts, as in SQL)
    (NOW + 23 * H, 0),
])
def test_usage_counts_files_of_the_window_and_open_slots(at: dt.datetime, used: int) -> None:
    assert loaded().used(1, at) == used


def test_a_slot_counts_once_whether_open_or_stored() -> None:
    ledger = loaded()
    ledger.reserve(1, "s2", 50, NOW + H)
    assert ledger.used(1, NOW) == 1160
    ledger.stored(1, "s2", 50, NOW)
    assert ledger.used(1, NOW) == 1160, "the stored file replaces its slot"
    ledger.release(1, "s1")
    assert ledger.used(1, NOW + dt.timedelta(seconds=1)) == 150
    assert ledger.used(1, NOW + 2 * H) == 50, "the file stays for 24 hours, after its slot would expire"


def test_a_released_reservation_no_longer_counts() -> None:
    ledger = loaded()
    ledger.reserve(1, "s2", 50, NOW + H)
    ledger.release(1, "s2")
    ledger.release(1, "s2")  # twice is harmless
    assert ledger.used(1, NOW) == 1110


def test_people_not_loaded_are_unknown_and_stored_files_wait_for_their_load() -> None:
    ledger = QuotaLedger()
    assert not ledger.knows(2)
    ledger.stored(2, "x", 5, NOW)
    ledger.release(2, "x")
    assert not ledger.knows(2), "a person is only known from storage, never from a partial picture"


def test_prune_forgets_people_using_nothing() -> None:
    ledger = loaded()
    ledger.load(2, [])
    assert ledger.prune(NOW) == 1 and ledger.knows(1) and not ledger.knows(2)
    assert ledger.prune(NOW + 25 * H) == 1 and not ledger.knows(1)
