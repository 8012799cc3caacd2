"""Questions across the directory: who shares a business with whom, search, counts."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, contains_eager

from dotimely_chat.policies.roles import Role
from dotimely_chat.storage.models.directory import Membership, Person, RosterItem

# Made once: building an alias per call cost a third of the CPU of provisioning (column adaptation is
# memoised per alias object).
_VIEWER = aliased(Membership, name="viewer")
_OTHER = aliased(Membership, name="other")


class DirectoryQueries:
    """Questions across businesses: who shares a business with whom, search."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def shared_memberships(
        self, person_id: int, contact_ids: Collection[int] | None = None, involving_role: Role | None = None
    ) -> Sequence[tuple[Person, Role, Role]]:
        """(contact, viewer's role, contact's role) for every business the person shares with someone.

        A pair appears once per shared business; `contact_ids` limits the contacts looked at.
        """
        viewer, other = _VIEWER, _OTHER

        def pairs(*conditions: Any) -> Select[tuple[Person, Role, Role]]:
            statement = (
                select(Person, viewer.role, other.role)
                .join(other, other.person_id == Person.id)
                .join(viewer, viewer.business_id == other.business_id)
                .where(viewer.person_id == person_id, other.person_id != person_id, *conditions)
            )
            if contact_ids is not None:
                statement = statement.where(other.person_id.in_(list(contact_ids)))
            return statement

        if involving_role is None:
            rows = (await self._session.execute(pairs())).all()
        else:
            # A pre-selection for speed: a customer among 2,000 reads only the owners (two index
            # look-ups, not a scan of the business); the policy still decides on each pair.
            rows = [*(await self._session.execute(pairs(viewer.role == involving_role))).all(),
                    *(await self._session.execute(pairs(viewer.role != involving_role,
                                                        other.role == involving_role))).all()]
        return sorted(((row[0], row[1], row[2]) for row in rows), key=lambda row: row[0].id)

    async def search(
        self, business_id: int, fragment: str, roles: Collection[Role] | None = None,
        limit: int = 50, offset: int = 0,
    ) -> Sequence[Membership]:
        """Members of one business whose name, e-mail or phone contains `fragment` (any case)."""
        statement = (
            select(Membership).join(Membership.person)
            .where(Membership.business_id == business_id)
            .options(contains_eager(Membership.person))
            .order_by(Person.display_name, Person.id).limit(limit).offset(offset)
        )
        if fragment:
            pattern = "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            statement = statement.where(or_(
                Person.display_name.ilike(pattern, escape="\\"), Person.email.ilike(pattern, escape="\\"),
                Person.phone.ilike(pattern, escape="\\")))
        if roles is not None:
            statement = statement.where(Membership.role.in_(list(roles)))
        return (await self._session.scalars(statement)).all()

    async def count_owners(self, business_id: int) -> int:
        statement = select(func.count()).select_from(Membership).where(
            Membership.business_id == business_id, Membership.role == "owner")
        return int(await self._session.scalar(statement) or 0)

    async def businesses_count(self, person_id: int) -> int:
        statement = select(func.count()).select_from(Membership).where(Membership.person_id == person_id)
        return int(await self._session.scalar(statement) or 0)

    async def people_with_roster_items_only(self) -> Sequence[Person]:
        """People we manage roster entries for but who belong to no business any more."""
        statement = select(Person).where(
            select(RosterItem.id).where(RosterItem.person_id == Person.id).exists(),
            ~select(Membership.id).where(Membership.person_id == Person.id).exists()).order_by(Person.id)
        return (await self._session.scalars(statement)).all()

    async def people_with_memberships(self) -> Sequence[Person]:
        """Everyone who belongs to at least one business (for full reconciliation)."""
        statement = select(Person).where(
            select(Membership.id).where(Membership.person_id == Person.id).exists()).order_by(Person.id)
        return (await self._session.scalars(statement)).all()
