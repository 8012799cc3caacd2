"""The status store's batch writes (what the recorder runs per batch), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from dotimely_chat.policies.presence import OFFLINE, PersonPresence
from dotimely_chat.policies.status_marks import Coverage, plan_coverage
from dotimely_chat.storage import AppointmentRepository, Database, MembershipRepository, RoomRepository
from dotimely_chat.storage.models.status import MessageStatus
from dotimely_chat.storage.status_store import NewMessage, StatusStore

from .tenants import Tenant

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def two_rooms(db: Database, tenant: Tenant) -> tuple[int, int]:
    async with db.session() as session:
        appointment = await AppointmentRepository(session).upsert(
            tenant.business_id, "appt-1", customer_id=tenant.customer_id, staff_id=tenant.staff_id,
            starts_at=T0, duration_minutes=30, service_name="Cut")
        rooms = RoomRepository(session)
        first = await rooms.add(tenant.business_id, appointment.id, "everyone", "a1@rooms.test", "A")
        second = await rooms.add(tenant.business_id, appointment.id, "owner", "a2@rooms.test", "B")
        await session.commit()
        return first.id, second.id


def message(room: int, n: int, tenant: Tenant, *, origin: str | None = None, msg: str | None = None) -> NewMessage:
    return NewMessage(room, f"sid-{room}-{n}", origin, msg, tenant.customer_id, "customer@chat.test", at(n), False,
                      {tenant.staff_id: (None, None), tenant.owner_id: (at(n), "online")})


async def copies(db: Database, person: int) -> list[tuple[str | None, str | None, bool]]:
    async with db.session() as session:
        rows = await session.execute(select(MessageStatus.delivered_at, MessageStatus.delivered_via,
                                            MessageStatus.read_at).where(MessageStatus.person_id == person)
                                     .order_by(MessageStatus.message_id))
        return [(d.isoformat()[11:19] if d else None, via, r is not None) for d, via, r in rows]


async def test_a_batch_of_markers_and_entries_covers_what_each_names(db: Database, tenant: Tenant) -> None:
    room, other = await two_rooms(db, tenant)
    async with db.session() as session:
        store = StatusStore(session)
        assert await store.add_messages([message(room, n, tenant, origin=f"o{n}", msg=f"m{n}") for n in (1, 2, 3, 4)]
                                        + [message(other, 1, tenant, msg="m9")]) == 5
        assert await store.add_messages([message(room, 1, tenant)]) == 0  # recorded before: skipped
        await session.commit()
    async with db.session() as session:
        store = StatusStore(session)
        targets = await store.resolve_many({(room, "sid-1-2"), (room, "o3"), (room, "m4"), (room, "nope"),
                                            (other, "o3"), (other, "m9")})
        assert set(targets) == {(room, "sid-1-2"), (room, "o3"), (room, "m4"), (other, "m9")}
        latest = await store.latest_ids({room, other, 999})
        assert set(latest) == {room, other} and latest[room] == targets[(room, "m4")]
        events = [Coverage(room, tenant.staff_id, targets[(room, "sid-1-2")], at(10), "receipt", False),
                  Coverage(room, tenant.staff_id, targets[(room, "o3")], at(11), "marker", True),
                  Coverage(room, tenant.staff_id, targets[(room, "sid-1-2")], at(12), "marker", True),  # older
                  Coverage(other, tenant.staff_id, latest[other], at(13), "join", False)]
        marks = await store.marks_of({(room, tenant.staff_id), (other, tenant.staff_id)})
        assert marks == {}
        await store.apply_coverage(plan_coverage(events, marks), marks)
        await session.commit()
    assert await copies(db, tenant.staff_id) == [
        ("09:00:10", "receipt", True), ("09:00:10", "receipt", True), ("09:00:11", "marker", True),
        (None, None, False), ("09:00:13", "join", False)]
    # The owner's copies were delivered online when recorded; a later marker keeps that time but reads them.
    async with db.session() as session:
        store = StatusStore(session)
        marks = await store.marks_of({(room, tenant.staff_id), (room, tenant.owner_id)})
        assert marks == {(room, tenant.staff_id): (latest[room] - 1, latest[room] - 1)}
        events = [Coverage(room, tenant.staff_id, latest[room], at(20), "marker", False),
                  Coverage(room, tenant.owner_id, latest[room], at(21), "marker", True)]
        await store.apply_coverage(plan_coverage(events, marks), marks)
        await session.commit()
    assert (await copies(db, tenant.staff_id))[3] == ("09:00:20", "marker", False)
    assert await copies(db, tenant.owner_id) == [
        ("09:00:01", "online", True), ("09:00:02", "online", True), ("09:00:03", "online", True),
        ("09:00:04", "online", True), ("09:00:01", "online", False)]
    async with db.session() as session:
        assert await StatusStore(session).marks_of({(room, tenant.staff_id), (room, tenant.owner_id)}) == {
            (room, tenant.staff_id): (latest[room], latest[room] - 1), (room, tenant.owner_id): (latest[room],) * 2}


async def test_the_people_of_a_conversation_come_in_one_statement(db: Database, tenant: Tenant) -> None:
    room, _ = await two_rooms(db, tenant)
    async with db.session() as session:
        rows = await StatusStore(session).conversation_people("a1@rooms.test")
        assert await StatusStore(session).conversation_people("nope@rooms.test") == []
    assert {(row.person_id, row.role) for row in rows} == {
        (tenant.owner_id, "owner"), (tenant.staff_id, "staff"), (tenant.customer_id, "customer")}
    first = rows[0]
    assert (first.room_id, first.audience, first.business_external_id) == (room, "everyone", "ext-a")
    assert (first.customer_id, first.staff_id) == (tenant.customer_id, tenant.staff_id)
    async with db.session() as session:
        await MembershipRepository(session).remove(tenant.business_id, tenant.staff_id)
        await session.commit()
        rows = await StatusStore(session).conversation_people("a1@rooms.test")
    assert {(row.person_id, row.role) for row in rows} == {
        (tenant.owner_id, "owner"), (tenant.staff_id, None), (tenant.customer_id, "customer")}


async def test_presence_keeps_show_idle_and_status_while_online_and_last_seen_when_offline(
        db: Database, tenant: Tenant) -> None:
    person = tenant.staff_id
    async with db.session() as session:
        store = StatusStore(session)
        await store.set_presence(person, PersonPresence(True, "away", "Back at 10", at(-600)), at(0))
        await session.commit()
        row = await store.presence(person)
        assert (row.online, row.show, row.status_text, row.idle_since, row.last_seen_at) == (
            True, "away", "Back at 10", at(-600), None)
        await store.set_presence(person, PersonPresence(True, None, None, None), at(5))  # back, plainly available
        await store.set_presence(person, OFFLINE, at(9))
        await session.commit()
        row = await store.presence(person)
        assert (row.online, row.show, row.status_text, row.idle_since, row.last_seen_at) == (
            False, None, None, None, at(9))
        assert person not in await store.online_people()
