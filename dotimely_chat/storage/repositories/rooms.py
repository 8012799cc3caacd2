"""The appointment rooms of a business."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager, joinedload

from dotimely_chat.storage.models.appointments import Appointment, Room


class RoomRepository:
    """Appointment rooms of a business."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, business_id: int, appointment_id: int, audience: str) -> Room | None:
        return await self._session.scalar(select(Room).where(
            Room.business_id == business_id, Room.appointment_id == appointment_id, Room.audience == audience))

    async def get_by_jid(self, jid: str) -> Room | None:
        """Exact match on the room's bare JID."""
        return await self._session.scalar(
            select(Room).where(Room.jid == jid).options(joinedload(Room.appointment)))

    async def add(self, business_id: int, appointment_id: int, audience: str, jid: str, name: str) -> Room:
        room = Room(business_id=business_id, appointment_id=appointment_id, audience=audience, jid=jid, name=name)
        self._session.add(room)
        await self._session.flush()
        return room

    async def for_appointment(self, business_id: int, appointment_id: int) -> Sequence[Room]:
        return (await self._session.scalars(select(Room).where(
            Room.business_id == business_id, Room.appointment_id == appointment_id).order_by(Room.id))).all()

    async def list(self, business_id: int, person_id: int | None = None, limit: int = 100, offset: int = 0
                   ) -> Sequence[Room]:
        """Rooms of a business, most recent activity first; with `person_id`, the rooms of their
        appointments (the owners of the business are in every room, so pass None for them)."""
        statement = (select(Room).join(Room.appointment).where(Room.business_id == business_id)
                     .options(contains_eager(Room.appointment))
                     .order_by(Room.last_activity_at.desc(), Room.id.desc()).limit(limit).offset(offset))
        if person_id is not None:
            statement = statement.where(or_(
                Appointment.staff_id == person_id,
                (Appointment.customer_id == person_id) & (Room.audience == "everyone")))
        return (await self._session.scalars(statement)).unique().all()

    async def all(self) -> Sequence[Room]:
        return (await self._session.scalars(
            select(Room).options(joinedload(Room.appointment)).order_by(Room.id))).all()

    async def touch(self, room_id: int, at: dt.datetime) -> None:
        await self._session.execute(update(Room).where(Room.id == room_id, Room.last_activity_at < at)
                                    .values(last_activity_at=at))
