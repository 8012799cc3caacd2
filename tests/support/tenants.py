"""Test data: a committed business with one person in each role."""

from __future__ import annotations

from dataclasses import dataclass

from dotimely_chat.policies.roles import Role
from dotimely_chat.storage import (
    BusinessRepository,
    Database,
    MembershipRepository,
    PersonRepository,
)

ROLE_ORDER: tuple[Role, ...] = ("owner", "staff", "customer")


@dataclass(frozen=True)
class Tenant:
    """Ids of one committed business with an owner, a staff member and a customer."""

    business_id: int
    owner_id: int
    staff_id: int
    customer_id: int


async def add_tenant(db: Database, name: str) -> Tenant:
    """Create and commit a business with one person in each role."""
    async with db.session() as session:
        businesses, people = BusinessRepository(session), PersonRepository(session)
        memberships = MembershipRepository(session)
        business = await businesses.add(f"ext-{name}", f"Salon {name}")
        ids: dict[Role, int] = {}
        for role in ROLE_ORDER:
            person = await people.add(f"ext-{name}-{role}", f"{role}.{name}@chat.test", f"{role} of {name}")
            await memberships.add(business.id, person.id, role)
            ids[role] = person.id
        await session.commit()
    return Tenant(business.id, ids["owner"], ids["staff"], ids["customer"])
