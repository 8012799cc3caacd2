"""Memberships: who belongs to which business, with which role."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from dotimely_chat.policies.roles import Role
from dotimely_chat.storage.models.directory import Membership


class MembershipRepository:
    """Who belongs to which business, with which role."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, business_id: int, person_id: int, role: Role) -> Membership:
        membership = Membership(business_id=business_id, person_id=person_id, role=role)
        self._session.add(membership)
        await self._session.flush()
        return membership

    async def get(self, business_id: int, person_id: int) -> Membership | None:
        query = select(Membership).where(
            Membership.business_id == business_id, Membership.person_id == person_id
        )
        return (await self._session.scalars(query)).one_or_none()

    async def roles_of(self, business_id: int, person_ids: Collection[int]) -> dict[int, Role]:
        """The roles these people have in the business (people who are not members are left out)."""
        rows = await self._session.execute(select(Membership.person_id, Membership.role).where(
            Membership.business_id == business_id, Membership.person_id.in_(list(person_ids))))
        return {person_id: role for person_id, role in rows}

    async def remove(self, business_id: int, person_id: int) -> bool:
        """Remove a person from a business; True if they were a member."""
        result = await self._session.execute(
            delete(Membership)
            .where(Membership.business_id == business_id, Membership.person_id == person_id)
            .returning(Membership.id)
        )
        return result.scalar_one_or_none() is not None

    async def list_for_business(self, business_id: int, role: Role | None = None) -> Sequence[Membership]:
        """The business's memberships, optionally of one role, each with `person` loaded."""
        query = (
            select(Membership)
            .where(Membership.business_id == business_id)
            .options(joinedload(Membership.person))
            .order_by(Membership.id)
        )
        if role is not None:
            query = query.where(Membership.role == role)
        return (await self._session.scalars(query)).all()

    async def businesses_of_person(self, person_id: int) -> Sequence[Membership]:
        """The person's memberships across businesses, each with `business` loaded (the role is on it)."""
        query = (
            select(Membership)
            .where(Membership.person_id == person_id)
            .options(joinedload(Membership.business))
            .order_by(Membership.business_id)
        )
        return (await self._session.scalars(query)).all()
