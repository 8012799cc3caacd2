"""SQL of a business deletion: what goes at once (access), what stays as history until retention, and the
purge of a deleted business once nothing of it is left to keep. Methods never commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dotimely_chat.storage.models.appointments import Appointment, Room
from dotimely_chat.storage.models.compliance import AuditEntry, ExportLink
from dotimely_chat.storage.models.directory import Business, Membership
from dotimely_chat.storage.models.status import RoomMessage
from dotimely_chat.storage.models.uploads import UploadedFile, UploadSlot
from dotimely_chat.storage.models.web import WebLoginTicket, WebSession

# What a deletion removes at once: who may act for the business, and what opens something of it.
ACCESS_TABLES: tuple[tuple[str, Any], ...] = (
    ("memberships", Membership),
    ("upload_slots", UploadSlot),
    ("web_login_tickets", WebLoginTicket),
    ("web_sessions", WebSession),
    ("export_links", ExportLink),
)


class BusinessDeletionStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def remove_access(self, business_id: int) -> dict[str, int]:
        """Delete the business's memberships, unused upload slots, web logins and sessions, export links;
        returns the rows deleted per table."""
        removed: dict[str, int] = {}
        for name, model in ACCESS_TABLES:
            result = await self._session.execute(delete(model).where(model.business_id == business_id)
                                                 .execution_options(synchronize_session=False))
            removed[name] = int(result.rowcount)  # type: ignore[attr-defined]
        return removed

    async def history(self, business_id: int) -> dict[str, int]:
        """What stays of the business until retention expires it: rows per kind."""
        rooms = select(Room.id).where(Room.business_id == business_id).scalar_subquery()
        counts = {
            "appointments": select(func.count()).select_from(Appointment)
            .where(Appointment.business_id == business_id),
            "rooms": select(func.count()).select_from(Room).where(Room.business_id == business_id),
            "room_messages": select(func.count()).select_from(RoomMessage).where(RoomMessage.room_id.in_(rooms)),
            "uploaded_files": select(func.count()).select_from(UploadedFile)
            .where(UploadedFile.business_id == business_id),
            "audit_entries": select(func.count()).select_from(AuditEntry)
            .where(AuditEntry.business_id == business_id),
        }
        return {name: int(await self._session.scalar(query) or 0) for name, query in counts.items()}

    async def purgeable(self, deleted_before: dt.datetime) -> Sequence[Business]:
        """Deleted businesses whose history has all expired: deleted before the cutoff, and neither an audit
        entry (an export after the deletion is one) nor a room message left."""
        audit_left = exists().where(AuditEntry.business_id == Business.id)
        messages_left = exists().where(RoomMessage.room_id == Room.id, Room.business_id == Business.id)
        query = (select(Business).where(Business.deleted_at.is_not(None), Business.deleted_at < deleted_before,
                                        ~audit_left, ~messages_left).order_by(Business.id))
        return (await self._session.scalars(query)).all()

    async def purge(self, business_id: int) -> None:
        """The row of a deleted business, and by cascade what is left of it (rooms, appointments, file rows)."""
        await self._session.execute(delete(Business).where(Business.id == business_id, Business.deleted_at.is_not(None))
                                    .execution_options(synchronize_session=False))
