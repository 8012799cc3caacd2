"""Rooms committed to a store test's database, with an appointment, and messages with their status rows."""

from __future__ import annotations

import datetime as dt

from dotimely_chat.storage import AppointmentRepository, Database, RoomRepository
from dotimely_chat.storage.models.status import MemberMark, MessageStatus, RoomMessage

from .tenants import Tenant

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)  # when `room_with_messages` counts the ages from


async def room_with_messages(db: Database, tenant: Tenant, name: str, ages_days: list[int]) -> tuple[int, str]:
    """A room with one message per age (days before NOW), each delivered to the staff member; (id, JID)."""
    async with db.session() as session:
        appointment = await AppointmentRepository(session).upsert(
            tenant.business_id, f"apt-{name}", customer_id=tenant.customer_id, staff_id=tenant.staff_id,
            starts_at=NOW, duration_minutes=30, service_name="Cut")
        room = await RoomRepository(session).add(tenant.business_id, appointment.id, "everyone",
                                                 f"{name}@rooms.test", f"Room {name}")
        await session.flush()
        for n, age in enumerate(ages_days):
            message = RoomMessage(room_id=room.id, stanza_id=f"{name}-{n}", sender_jid="c@test",
                                  sent_at=NOW - dt.timedelta(days=age))
            session.add(message)
            await session.flush()
            session.add(MessageStatus(message_id=message.id, room_id=room.id, person_id=tenant.staff_id,
                                      delivered_at=message.sent_at, delivered_via="online"))
        session.add(MemberMark(room_id=room.id, person_id=tenant.staff_id, delivered_upto=1, read_upto=1))
        await session.commit()
        return room.id, room.jid


T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)  # the appointment of `two_rooms`; `at(n)`: n s later


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def two_rooms(db: Database, tenant: Tenant) -> tuple[int, int]:
    """Two rooms of one appointment, for everyone and owners only; their ids."""
    async with db.session() as session:
        appointment = await AppointmentRepository(session).upsert(
            tenant.business_id, "appt-1", customer_id=tenant.customer_id, staff_id=tenant.staff_id,
            starts_at=T0, duration_minutes=30, service_name="Cut")
        rooms = RoomRepository(session)
        first = await rooms.add(tenant.business_id, appointment.id, "everyone", "a1@rooms.test", "A")
        second = await rooms.add(tenant.business_id, appointment.id, "owner", "a2@rooms.test", "B")
        await session.commit()
        return first.id, second.id
