"""People of a business: add or update (with their XMPP account), read, list, remove a membership.

Order of effects, so nothing is left half-done: the XMPP account first (a new one is deleted again if the
directory write fails), then the directory commit, then the derived state (`effects.py`: rosters, rooms,
names, the web page's password).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from ...errors import CONFLICT, LAST_OWNER, DomainError
from ...policies.people import may_change_role, may_remove_membership
from ...policies.roles import ROLES, Role, parse_role
from ...storage import AuditRepository, Database, DirectoryQueries, MembershipRepository, PersonRepository
from ...storage.models.directory import Person
from ..input_checks import check_external_id, invalid
from ..rosters import Contact
from .accounts import Provisioning
from .effects import DirectoryEffects
from .lookup import active_business, membership_of
from .person_input import PersonInput
from .views import PersonView, PutPersonResult

log = logging.getLogger(__name__)

MAX_SEARCH_RESULTS = 200


@dataclass(frozen=True)
class _Written:
    """A person's directory write, committed: what the derived state needs afterwards."""

    view: PersonView
    me: Contact
    created: bool  # a new membership
    old_role: Role | None
    related: list[Contact]  # whose roster shows this person
    business_pk: int


class People:
    def __init__(self, database: Database, provisioning: Provisioning, effects: DirectoryEffects) -> None:
        self.database, self.provisioning, self.effects = database, provisioning, effects

    async def put(self, business_id: str, person_id: str, data: PersonInput) -> PutPersonResult:
        """Add a person to a business or update them; a person's JID never changes."""
        check_external_id("person", person_id)
        person, jid = await self._identity(business_id, person_id, data)
        if person is None:
            account = await self.provisioning.for_new_person(jid, data)
        else:
            account = await self.provisioning.for_known_person(person.jid, data)
        jid = account.jid

        named = person is None or person.display_name != data.display_name
        try:
            written = await self._write(business_id, person_id, jid, data)
        except BaseException:
            if account.created:
                await self.provisioning.undo(jid)
            raise
        me, old_role = written.me, written.old_role
        if account.known_password is not None:
            await self.effects.remember_password(me.id, jid, account.known_password)
        if named:
            await self.effects.person_named(jid, data.display_name)
        synced = await self.effects.apply_roster(me, None)
        for contact in written.related:
            synced &= await self.effects.apply_roster(contact, [me])
        if old_role != data.role:
            involves_owner = "owner" in (old_role, data.role)
            await self.effects.membership_changed(written.business_pk, me.id, involves_owner)
        log.info("Person %s (%s) %s in business %s as %s%s", person_id, jid,
                 "added" if written.created else "updated", business_id, data.role,
                 f" (was {old_role})" if old_role and old_role != data.role else "")
        return PutPersonResult(written.view, written.created, account.generated_password, synced)

    async def _identity(self, business_id: str, person_id: str, data: PersonInput
                        ) -> tuple[Person | None, str | None]:
        """The person as known, and their JID; refuses a changed JID or one that is someone else's."""
        async with self.database.session() as session:
            await active_business(session, business_id)  # 404 before any account is made
            person = await PersonRepository(session).get_by_external_id(person_id)
            if person is not None and data.jid is not None and data.jid != person.jid:
                raise DomainError(CONFLICT, f"person {person_id!r} has the JID {person.jid}; "
                                  "it cannot change", field="jid")
            jid = person.jid if person is not None else data.jid
            if person is None and jid is not None:
                holder = await PersonRepository(session).get_by_jid(jid)
                if holder is not None:
                    raise DomainError(CONFLICT, f"{jid} already belongs to person {holder.external_id!r}",
                                      field="jid")
            return person, jid

    async def _write(self, business_id: str, person_id: str, jid: str, data: PersonInput) -> _Written:
        async with self.database.session() as session:
            business = await active_business(session, business_id)
            people, memberships = PersonRepository(session), MembershipRepository(session)
            person = await people.get_by_external_id(person_id)
            if person is None:
                person = await people.add(person_id, jid, data.display_name, data.email, data.phone)
            else:
                person.display_name = data.display_name
                person.email, person.phone = data.email, data.phone
            membership = await memberships.get(business.id, person.id)
            old_role: Role | None = membership.role if membership else None
            created = membership is None
            if membership is None:
                membership = await memberships.add(business.id, person.id, data.role)
            elif membership.role != data.role:
                owners = await DirectoryQueries(session).count_owners(business.id)
                allowed, reason = may_change_role(membership.role, data.role, owners)
                if not allowed:
                    raise DomainError(LAST_OWNER, reason)
                membership.role = data.role
            involves_owner = data.role == "owner" or old_role == "owner"
            others = await memberships.list_for_business(business.id, None if involves_owner else "owner")
            related = [Contact.of(m.person) for m in others if m.person_id != person.id]
            try:
                await session.commit()
            except IntegrityError:
                raise DomainError(CONFLICT, f"person {person_id!r} or {jid} was written concurrently; retry",
                                  field="jid") from None
            return _Written(PersonView.of(membership, person), Contact.of(person), created, old_role, related,
                            business.id)

    async def get(self, business_id: str, person_id: str) -> PersonView:
        async with self.database.session() as session:
            _, person, membership = await membership_of(session, business_id, person_id)
            return PersonView.of(membership, person)

    async def in_business(self, business_id: str, query: str = "", role: str | None = None,
                          limit: int = 50, offset: int = 0) -> list[PersonView]:
        """The business's people whose name, e-mail or phone contains `query`, optionally of one role."""
        roles: list[Role] | None = None
        if role is not None:
            parsed = parse_role(role)
            if parsed is None:
                raise invalid("role", f"{role!r} is not one of {', '.join(ROLES)}")
            roles = [parsed]
        if not 1 <= limit <= MAX_SEARCH_RESULTS or offset < 0:
            raise invalid("limit", f"limit must be 1 to {MAX_SEARCH_RESULTS} and offset at least 0")
        async with self.database.session() as session:
            business = await active_business(session, business_id)
            rows = await DirectoryQueries(session).search(business.id, query.strip(), roles, limit, offset)
            return [PersonView.of(m, m.person) for m in rows]

    async def remove(self, business_id: str, person_id: str) -> bool:
        """Remove a person's membership of a business (their account and other memberships stay)."""
        async with self.database.session() as session:
            business, person, membership = await membership_of(session, business_id, person_id)
            owners = await DirectoryQueries(session).count_owners(business.id)
            allowed, reason = may_remove_membership(membership.role, owners)
            if not allowed:
                raise DomainError(LAST_OWNER, reason)
            others = await MembershipRepository(session).list_for_business(business.id)
            related = [Contact.of(m.person) for m in others if m.person_id != person.id
                       and (membership.role == "owner" or m.role == "owner")]
            removed = Contact.of(person)
            business_pk, was_owner = business.id, membership.role == "owner"
            await MembershipRepository(session).remove(business.id, person.id)
            AuditRepository(session).add(business.id, "api", "person_removed", subject_jid=person.jid,
                                         details={"person": person_id, "role": membership.role})
            await session.commit()
        log.info("Person %s removed from business %s", person_id, business_id)
        synced = await self.effects.apply_roster(removed, None)
        for contact in related:
            synced &= await self.effects.apply_roster(contact, [removed])
        await self.effects.membership_changed(business_pk, removed.id, was_owner)
        await self.effects.person_left(removed.jid)
        return synced
