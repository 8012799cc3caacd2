"""The recorder holds live room events until the room's archive is read, then records both in the order
they were said (on SQLite and PostgreSQL; the traffic is built by hand, no server)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from dotimely_chat.component.muc_archive import ArchivedMessage
from dotimely_chat.component.muc_events import RoomTraffic
from dotimely_chat.services.status import MAX_BATCH, RoomMembers, StatusRecorder
from dotimely_chat.services.status_backfill import ArchiveBackfill
from dotimely_chat.storage import Database
from dotimely_chat.storage.models.status import MessageStatus, RoomMessage

from .tenants import Tenant
from .test_status_store import T0, two_rooms

CUSTOMER, STAFF, OWNER = "customer@chat.test", "staff@chat.test", "owner@chat.test"


def archived(room: str, n: int, sender: str = CUSTOMER, markers: tuple[tuple[str, str], ...] = ()) -> ArchivedMessage:
    return ArchivedMessage(room, f"s{n}", T0 + dt.timedelta(seconds=n), sender, "nick",
                           None if markers else f"message {n}", None, None, (), markers)


def live(room: str, n: int) -> RoomTraffic:
    return RoomTraffic(room, CUSTOMER, f"s{n}", None, None, True, False, ())


async def recorded(db: Database, tenant: Tenant) -> list[tuple[str, str | None, str | None, bool]]:
    """(stanza-id, staff's delivered via, owner's delivered via, staff read) in id order."""
    async with db.session() as session:
        rows = (await session.execute(select(RoomMessage.id, RoomMessage.stanza_id).order_by(RoomMessage.id))).all()
        status = {(s.message_id, s.person_id): s for s in (await session.scalars(select(MessageStatus))).all()}
    staff, owner = tenant.staff_id, tenant.owner_id
    return [(sid, status[(mid, staff)].delivered_via, status[(mid, owner)].delivered_via,
             status[(mid, staff)].read_at is not None) for mid, sid in rows]


async def test_live_events_wait_for_the_archive_and_keep_what_was_seen_live(db: Database, tenant: Tenant) -> None:
    room_id, _ = await two_rooms(db, tenant)
    room = "a1@rooms.test"

    async def members_of(jid: str) -> RoomMembers | None:
        people = {OWNER: tenant.owner_id, STAFF: tenant.staff_id, CUSTOMER: tenant.customer_id}
        return RoomMembers(room_id, tenant.business_id, people) if jid == room else None

    recorder = StatusRecorder(db, members_of)  # holds from the start, until the first back-fill
    recorder.occupant(room, STAFF, True)          # the staff member is in the room when we come back
    recorder.room_message(live(room, 3))          # said live after our return, before the archive is read
    await recorder.flush()
    assert await recorded(db, tenant) == [], "held until the archive is read"

    for message in (archived(room, 1), archived(room, 2, STAFF, (("displayed", "s1"),)), archived(room, 3)):
        recorder.archived(room, message)
    recorder.release(room)
    await recorder.flush()
    assert await recorded(db, tenant) == [
        ("s1", "marker", None, True),    # read by the archived marker, at its time
        ("s3", "online", None, False),   # seen live: the staff member was present
    ], "said in this order; what was seen live keeps it"
    # The staff member's entry (held, then released after the archive) delivered nothing more: s3 was online.

    recorder.room_message(live(room, 4))  # released: straight through
    await recorder.flush()
    assert [row[0] for row in await recorded(db, tenant)] == ["s1", "s3", "s4"]

    recorder.hold()                        # the link went away again
    recorder.room_message(live(room, 5))
    await recorder.flush()
    assert len(await recorded(db, tenant)) == 3
    recorder.release_all()
    await recorder.flush()
    assert [row[0] for row in await recorded(db, tenant)] == ["s1", "s3", "s4", "s5"]


async def test_a_back_fill_that_fails_does_not_leave_the_rooms_held(tmp_path: Path) -> None:
    unmigrated = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")  # no tables: the back-fill fails

    async def members_of(jid: str) -> RoomMembers | None:
        return None

    async def nothing(room: str, after: str | None, since: dt.datetime | None) -> AsyncIterator[ArchivedMessage]:
        return
        yield  # an async generator that yields nothing

    recorder = StatusRecorder(unmigrated, members_of)
    try:
        with pytest.raises(DBAPIError):
            await ArchiveBackfill(unmigrated, recorder, nothing).run()
        runs = [recorder.metrics.registry.get_sample_value("dotimely_backfill_runs_total", {"outcome": outcome})
                for outcome in ("failed", "done")]
        assert runs == [1, 0], "/metrics tells the failed run"
        recorder.room_message(live("r@rooms.test", 1))
        assert [kind for _, kind, _ in recorder._queue] == ["message"], "recorded, not held"
    finally:
        await unmigrated.dispose()


async def test_back_filled_times_never_go_back_behind_a_live_message_and_keep_microseconds(
    db: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prosody 0.12's archive has whole seconds; a live message has the microsecond it reached us. A message
    the archive puts after a live one, in the same second, must not get an earlier time (issue 16.6)."""
    room_id, _ = await two_rooms(db, tenant)
    room = "a1@rooms.test"
    people = {OWNER: tenant.owner_id, STAFF: tenant.staff_id, CUSTOMER: tenant.customer_id}

    async def members_of(jid: str) -> RoomMembers | None:
        return RoomMembers(room_id, tenant.business_id, people) if jid == room else None

    live_at = T0 + dt.timedelta(seconds=0.7)
    monkeypatch.setattr("dotimely_chat.services.status.now", lambda: live_at)
    recorder = StatusRecorder(db, members_of)
    recorder.release_all()
    recorder.room_message(live(room, 1))  # recorded live at 09:00:00.700000
    await recorder.flush()

    asked: list[tuple[str | None, dt.datetime | None]] = []

    async def archive(jid: str, after: str | None, since: dt.datetime | None) -> AsyncIterator[ArchivedMessage]:
        if jid != room:
            return
        asked.append((after, since))
        for n, second in ((2, 0), (3, 1)):  # said after s1: 09:00:00.9 (stamped 09:00:00), then 09:00:01
            yield dataclasses.replace(archived(room, n), sent_at=T0 + dt.timedelta(seconds=second))

    recorder.hold()  # the link was lost; the back-fill reads what was said meanwhile
    report = await ArchiveBackfill(db, recorder, archive).run()
    await recorder.flush()
    assert report.failed == 0 and asked == [("s1", None)]
    async with db.session() as session:
        rows = (await session.execute(select(RoomMessage.stanza_id, RoomMessage.sent_at)
                                      .where(RoomMessage.room_id == room_id).order_by(RoomMessage.id))).all()
    assert [sid for sid, _ in rows] == ["s1", "s2", "s3"]
    assert rows[0][1] == live_at, "the database keeps the microseconds"
    times = [sent_at for _, sent_at in rows]
    assert times == sorted(times), "sent_at never goes backwards in the order the room had"
    assert times == [live_at, live_at, T0 + dt.timedelta(seconds=1)]


async def test_flushes_at_the_same_time_record_in_the_order_seen(db: Database, tenant: Tenant) -> None:
    """The flush task, the back-fill and the presence settle all flush: one at a time, or a later batch may
    commit first and take lower ids (the order of the room's messages is their id order)."""
    room_id, _ = await two_rooms(db, tenant)
    room = "a1@rooms.test"
    people = {OWNER: tenant.owner_id, STAFF: tenant.staff_id, CUSTOMER: tenant.customer_id}

    async def members_of(jid: str) -> RoomMembers | None:
        return RoomMembers(room_id, tenant.business_id, people) if jid == room else None

    recorder = StatusRecorder(db, members_of)
    recorder.release_all()
    count = MAX_BATCH + 5  # two batches: the second, small one would be written faster
    for n in range(1, count + 1):
        recorder.room_message(live(room, n))
    await asyncio.gather(recorder.flush(), recorder.flush(), recorder.flush())
    async with db.session() as session:
        ids = (await session.scalars(select(RoomMessage.stanza_id).where(RoomMessage.room_id == room_id)
                                     .order_by(RoomMessage.id))).all()
    assert list(ids) == [f"s{n}" for n in range(1, count + 1)]


async def test_late_live_messages_take_the_archive_time_and_stay_in_order(db: Database, tenant: Tenant,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """After a stalled link: messages recorded 2 s or more after their archive time get it (never earlier
    than the message before them); prompt ones keep their precise live time."""
    room_id, _ = await two_rooms(db, tenant)
    room = "a1@rooms.test"
    people = {OWNER: tenant.owner_id, STAFF: tenant.staff_id, CUSTOMER: tenant.customer_id}

    async def members_of(jid: str) -> RoomMembers | None:
        return RoomMembers(room_id, tenant.business_id, people) if jid == room else None

    recorder = StatusRecorder(db, members_of)
    recorder.release_all()
    arrivals = {1: 10.4, 2: 13.9, 3: 13.95, 4: 14.2}  # s2 and s3 were said at 10.x and 11.x, stuck in a stall
    for n, second in arrivals.items():
        monkeypatch.setattr("dotimely_chat.services.status.now", lambda s=second: T0 + dt.timedelta(seconds=s))
        recorder.room_message(live(room, n))
    await recorder.flush()
    stamps = [("s1", 10), ("s2", 10), ("s3", 11), ("s4", 14)]  # the archive: whole seconds

    async def archive(jid: str, after: str | None, since: dt.datetime | None) -> AsyncIterator[ArchivedMessage]:
        for stanza, second in stamps:
            yield dataclasses.replace(archived(jid, int(stanza[1:])), sent_at=T0 + dt.timedelta(seconds=second))

    backfill = ArchiveBackfill(db, recorder, archive)
    assert await backfill.correct_late_times(T0, recorder.rooms_heard_since(T0)) == 2
    async with db.session() as session:
        rows = (await session.execute(select(RoomMessage.stanza_id, RoomMessage.sent_at)
                                      .where(RoomMessage.room_id == room_id).order_by(RoomMessage.id))).all()
    assert [(sid, (at - T0).total_seconds()) for sid, at in rows] == [
        ("s1", 10.4),   # prompt: its live time, to the microsecond
        ("s2", 10.4),   # late: the archive's 10 s, not before s1
        ("s3", 11.0),   # late: the archive's time
        ("s4", 14.2)]   # prompt
    assert await backfill.correct_late_times(T0, [room]) == 0, "nothing more to correct"
