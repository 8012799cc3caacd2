"""The roster entries we last pushed into people's rosters."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dotimely_chat.storage.models.directory import RosterItem


class RosterItemRepository:
    """What we last pushed into people's rosters."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def for_person(self, person_id: int, contact_jids: Collection[str] | None = None
                         ) -> dict[str, RosterItem]:
        statement = select(RosterItem).where(RosterItem.person_id == person_id)
        if contact_jids is not None:
            statement = statement.where(RosterItem.contact_jid.in_(list(contact_jids)))
        return {item.contact_jid: item for item in (await self._session.scalars(statement)).all()}

    async def insert(self, person_id: int, items: Sequence[tuple[str, str, str]]) -> None:
        """New entries as (contact_jid, name, groups), in one statement."""
        if items:
            await self._session.execute(insert(RosterItem), [
                {"person_id": person_id, "contact_jid": jid, "name": name, "groups": groups}
                for jid, name, groups in items])

    async def update(self, person_id: int, contact_jid: str, name: str, groups: str) -> None:
        await self._session.execute(update(RosterItem).where(
            RosterItem.person_id == person_id, RosterItem.contact_jid == contact_jid).values(
            name=name, groups=groups))

    async def delete(self, person_id: int, contact_jids: Collection[str]) -> None:
        if contact_jids:
            await self._session.execute(delete(RosterItem).where(
                RosterItem.person_id == person_id, RosterItem.contact_jid.in_(list(contact_jids))))
