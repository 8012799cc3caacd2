"""People: one bare JID each, shared across the businesses they belong to."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dotimely_chat.storage.models.directory import Person


class PersonRepository:
    """People: one bare JID each, shared across the businesses they belong to."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, person_id: int) -> Person | None:
        return await self._session.get(Person, person_id)

    async def get_by_external_id(self, external_id: str) -> Person | None:
        query = select(Person).where(Person.external_id == external_id)
        return (await self._session.scalars(query)).one_or_none()

    async def get_by_jid(self, jid: str) -> Person | None:
        """Exact match on the bare JID; the caller normalises it (never a suffix match)."""
        query = select(Person).where(Person.jid == jid)
        return (await self._session.scalars(query)).one_or_none()

    async def get_by_jids(self, jids: Collection[str]) -> dict[str, Person]:
        """Exact matches on bare JIDs, in one statement."""
        if not jids:
            return {}
        return {p.jid: p for p in (await self._session.scalars(select(Person).where(Person.jid.in_(list(jids)))))}

    async def add(
        self,
        external_id: str,
        jid: str,
        display_name: str,
        email: str | None = None,
        phone: str | None = None,
    ) -> Person:
        person = Person(external_id=external_id, jid=jid, display_name=display_name, email=email, phone=phone)
        self._session.add(person)
        await self._session.flush()
        return person
