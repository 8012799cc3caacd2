"""What receipts, markers and room entries cover (policies.status_marks), without a server."""

from __future__ import annotations

import datetime as dt

from dotimely_chat.policies.status_marks import Coverage, CoveredRange, pick_reference, plan_coverage

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_a_displayed_marker_delivers_and_reads_everything_up_to_it() -> None:
    plan = plan_coverage([Coverage(1, 7, 40, at(1), "marker", True)], {})
    assert plan.delivered == [CoveredRange(1, 7, 0, 40, at(1), "marker")]
    assert plan.read == [CoveredRange(1, 7, 0, 40, at(1), "marker")]
    assert plan.marks == {(1, 7): (40, 40)}


def test_only_messages_past_the_marks_are_covered_and_each_keeps_its_first_time() -> None:
    events = [Coverage(1, 7, 50, at(1), "receipt", False), Coverage(1, 7, 60, at(2), "marker", True),
              Coverage(1, 7, 55, at(3), "marker", True)]
    plan = plan_coverage(events, {(1, 7): (30, 20)})
    assert plan.delivered == [CoveredRange(1, 7, 30, 50, at(1), "receipt"), CoveredRange(1, 7, 50, 60, at(2), "marker")]
    assert plan.read == [CoveredRange(1, 7, 20, 60, at(2), "marker")]
    assert plan.marks == {(1, 7): (60, 60)}


def test_repeated_or_older_events_change_nothing() -> None:
    plan = plan_coverage([Coverage(1, 7, 10, at(1), "marker", True), Coverage(1, 7, 30, at(2), "join", False)],
                         {(1, 7): (30, 30)})
    assert plan.delivered == [] and plan.read == [] and plan.marks == {}


def test_members_and_rooms_are_kept_apart() -> None:
    plan = plan_coverage([Coverage(1, 7, 5, at(1), "join", False), Coverage(2, 7, 9, at(1), "marker", True),
                          Coverage(1, 8, 3, at(2), "receipt", False)], {(2, 7): (9, 4)})
    assert plan.marks == {(1, 7): (5, 0), (2, 7): (9, 9), (1, 8): (3, 0)}
    assert [(r.room_id, r.person_id, r.after, r.upto) for r in plan.read] == [(2, 7, 4, 9)]
    assert [(r.room_id, r.person_id) for r in plan.delivered] == [(1, 7), (1, 8)]


def test_a_reference_is_the_stanza_id_first_then_origin_id_then_message_id_latest_first() -> None:
    assert pick_reference([(2, 90), (1, 80), (0, 12)]) == 12
    assert pick_reference([(2, 90), (1, 80), (1, 85)]) == 85
    assert pick_reference([(2, 90), (2, 91)]) == 91
    assert pick_reference([]) is None
