"""Start New and the search form: what a person may find in their businesses (never across them), and who
is asking (their roles)."""

from __future__ import annotations

from ...errors import NOT_FOUND, DomainError
from ...policies.contacts import may_find
from ...policies.roles import ROLES, Role
from ...storage import Database, DirectoryQueries, MembershipRepository, PersonRepository
from ..rosters import Contact, RosterService
from .views import PersonView, SearchHit


class DirectorySearch:
    def __init__(self, database: Database, rosters: RosterService | None) -> None:
        self.database, self.rosters = database, rosters

    async def search_for(self, requester_jid: str, fragment: str, limit: int = 50) -> list[SearchHit]:
        """Start New → search: what this person may find in their businesses (never across them)."""
        hits: list[SearchHit] = []
        async with self.database.session() as session:
            person = await PersonRepository(session).get_by_jid(requester_jid)
            if person is None:
                return []
            for membership in await MembershipRepository(session).businesses_of_person(person.id):
                role: Role = membership.role
                roles = None if role == "owner" else [r for r in ROLES if may_find(role, r)]
                rows = await DirectoryQueries(session).search(membership.business_id, fragment.strip(), roles,
                                                              limit, 0)
                hits += [SearchHit(membership.business.external_id, membership.business.name,
                                   PersonView.of(m, m.person)) for m in rows if m.person_id != person.id]
        return hits[:limit]

    async def roles_of(self, jid: str) -> frozenset[Role]:
        """The person's roles over all their businesses (empty for someone of no business)."""
        async with self.database.session() as session:
            person = await PersonRepository(session).get_by_jid(jid)
            if person is None:
                return frozenset()
            memberships = await MembershipRepository(session).businesses_of_person(person.id)
            return frozenset(m.role for m in memberships)

    async def is_owner_anywhere(self, jid: str) -> bool:
        async with self.database.session() as session:
            person = await PersonRepository(session).get_by_jid(jid)
            if person is None:
                return False
            memberships = await MembershipRepository(session).businesses_of_person(person.id)
            return any(m.role == "owner" for m in memberships)

    async def ensure_contact(self, requester_jid: str, contact_jid: str) -> bool:
        """Make sure two people who may chat have each other as contacts (Start New → pick)."""
        async with self.database.session() as session:
            people = PersonRepository(session)
            requester, contact = await people.get_by_jid(requester_jid), await people.get_by_jid(contact_jid)
            if requester is None or contact is None:
                raise DomainError(NOT_FOUND, "no such person")
            pair = (Contact.of(requester), Contact.of(contact))
        if self.rosters is None:
            return False
        # Against the server's copy: the person may have removed the contact by hand.
        first = await self.rosters.reconcile(pair[0], [pair[1]])
        second = await self.rosters.reconcile(pair[1], [pair[0]])
        return first.failed == second.failed == 0
