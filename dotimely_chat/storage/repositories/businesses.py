"""Businesses (tenants): the rows every other table hangs from."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dotimely_chat.storage.models.directory import Business


class BusinessRepository:
    """Businesses (tenants)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, business_id: int) -> Business | None:
        return await self._session.get(Business, business_id)

    async def get_by_external_id(self, external_id: str, *, include_deleted: bool = False) -> Business | None:
        """The business; a deleted one (a tombstone kept for its history) only with `include_deleted`."""
        query = select(Business).where(Business.external_id == external_id)
        if not include_deleted:
            query = query.where(Business.deleted_at.is_(None))
        return (await self._session.scalars(query)).one_or_none()

    async def add(self, external_id: str, name: str) -> Business:
        business = Business(external_id=external_id, name=name)
        self._session.add(business)
        await self._session.flush()
        return business

    async def list(self) -> Sequence[Business]:
        """The businesses that are not deleted."""
        query = select(Business).where(Business.deleted_at.is_(None)).order_by(Business.id)
        return (await self._session.scalars(query)).all()

    async def delete(self, business_id: int) -> bool:
        """Delete a business row for good; the database cascades to everything of it (memberships,
        appointments, rooms, their messages and status, uploads, the audit log). The API's deletion does not
        do this (services/directory.py): retention purges a deleted business once its records expired."""
        result = await self._session.execute(
            delete(Business).where(Business.id == business_id).returning(Business.id)
        )
        return result.scalar_one_or_none() is not None
