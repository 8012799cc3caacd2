"""Finding a business or a membership by the booking backend's ids, inside the caller's session."""

from __future__ import annotations

from typing import Any

from ...errors import NOT_FOUND, DomainError
from ...storage import BusinessRepository, MembershipRepository, PersonRepository
from ...storage.models.directory import Business, Membership, Person


async def active_business(session: Any, external_id: str) -> Business:
    """The business, or `not_found` (for a deleted one too, saying when, and where its records answer)."""
    business = await BusinessRepository(session).get_by_external_id(external_id, include_deleted=True)
    if business is None:
        raise DomainError(NOT_FOUND, f"no business {external_id!r}")
    if business.deleted_at is not None:
        raise DomainError(NOT_FOUND, f"business {external_id!r} was deleted on "
                          f"{business.deleted_at.date()}; its audit log and export still answer",
                          deleted_at=business.deleted_at.isoformat())
    return business


async def membership_of(session: Any, business_id: str, person_id: str
                        ) -> tuple[Business, Person, Membership]:
    """A person's membership of an active business, or `not_found`."""
    business = await active_business(session, business_id)
    person = await PersonRepository(session).get_by_external_id(person_id)
    membership = person and await MembershipRepository(session).get(business.id, person.id)
    if person is None or not membership:
        raise DomainError(NOT_FOUND, f"no person {person_id!r} in business {business_id!r}")
    return business, person, membership
