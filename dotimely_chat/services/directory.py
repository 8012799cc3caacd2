"""Directory use cases, shared by the HTTP API and the XMPP commands: businesses, people, roles, search.

Order of effects, so nothing is left half-done: the XMPP account first (a new one is deleted again if the
directory write fails), then the directory commit, then the rosters (derived state: a failed push is
repaired by the next reconciliation and reported as `roster_synced: false`).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from ..errors import BAD_REQUEST, BUSINESS_DELETED, CONFLICT, LAST_OWNER, NOT_FOUND, DomainError
from ..policies.contacts import may_find
from ..policies.people import (
    localpart_for,
    may_change_role,
    may_remove_membership,
    password_problem,
    split_bare_jid,
    validate_display_name,
)
from ..policies.roles import ROLES, Role, parse_role
from ..policies.text import is_plain_id, non_xml_text_reason, single_line_problem
from ..servers.accounts import AccountAdapter
from ..storage import (
    AuditRepository,
    BusinessRepository,
    Database,
    DirectoryQueries,
    MembershipRepository,
    PersonRepository,
    utcnow,
)
from ..storage.business_deletion import BusinessDeletionStore
from ..storage.database import default_lock_waits
from ..storage.models import Business, Membership, Person
from .rosters import Contact, RosterChanges, RosterService

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
MAX_EXTERNAL_ID = 128
MAX_SEARCH_RESULTS = 200


def retention_end(start: dt.datetime, retention_seconds: int | None) -> dt.datetime | None:
    """When records made up to `start` have all expired; None when retention is `never`."""
    return None if retention_seconds is None else start + dt.timedelta(seconds=retention_seconds)


def invalid(field: str, message: str) -> DomainError:
    return DomainError(BAD_REQUEST, f"{field}: {message}", field=field)


def check_external_id(kind: str, value: str) -> str:
    """An id of the booking backend: 1 to 128 characters, no control or format characters."""
    if not isinstance(value, str) or not is_plain_id(value, MAX_EXTERNAL_ID):
        raise invalid(kind, f"an id of 1 to {MAX_EXTERNAL_ID} printable characters is required")
    return value


def refuse_unknown_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """A body with a key we do not know is refused, naming the key (or 'body' for one that is no name)."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        name = unknown[0]
        field = name if is_plain_id(name, 64) else "body"
        shown = "" if field == name else f" {name[:40]!r}"
        raise invalid(field, f"unknown field{shown} (allowed: {', '.join(allowed)})")


def check_xml_text(field: str, value: str | None) -> str | None:
    """Refuse text that XML cannot carry: it would reach a stanza (policies/text.py)."""
    if value is not None:
        reason = non_xml_text_reason(value)
        if reason:
            raise invalid(field, reason)
    return value


@dataclass(frozen=True)
class PersonInput:
    role: Role
    display_name: str
    jid: str | None = None
    password: str | None = None
    email: str | None = None
    phone: str | None = None

    @classmethod
    def from_json(cls, body: Any, domain: str) -> PersonInput:
        """Validate a request body; each error names the field."""
        if not isinstance(body, dict):
            raise invalid("body", "a JSON object is required")
        refuse_unknown_fields(body, ("role", "display_name", "jid", "password", "email", "phone"))
        role = parse_role(body.get("role"))
        if role is None:
            raise invalid("role", f"{body.get('role')!r} is not one of {', '.join(ROLES)}")
        name = validate_display_name(body.get("display_name"))
        if name is None:
            raise invalid("display_name", "a name of 1 to 200 printable characters is required")
        jid = body.get("jid")
        if jid is not None:
            parts = split_bare_jid(jid)
            if parts is None:
                raise invalid("jid", f"{jid!r} is not a bare JID in lower case such as 'name@{domain}'")
            if parts[1] != domain:
                raise invalid("jid", f"{jid!r} is not on this server's domain {domain!r}")
        password = body.get("password")
        if password is not None and (not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH
                                     or len(password) > 1024):
            raise invalid("password", f"a string of {MIN_PASSWORD_LENGTH} to 1024 characters is required")
        email, phone = body.get("email"), body.get("phone")
        if email is not None and (not isinstance(email, str) or len(email) > 320 or "@" not in email):
            raise invalid("email", "an e-mail address of at most 320 characters is required")
        if phone is not None and (not isinstance(phone, str) or len(phone) > 64):
            raise invalid("phone", "a phone number of at most 64 characters is required")
        # The password goes into an XEP-0133 form, e-mail and phone into search results: XML text only.
        check_xml_text("password", password)
        for field, value in (("email", email), ("phone", phone)):
            if value is not None and (problem := single_line_problem(value)):
                raise invalid(field, problem)
        if password is not None and (problem := password_problem(password)):
            raise invalid("password", problem)
        return cls(role, name, jid, password, email or None, phone or None)


@dataclass(frozen=True)
class PersonView:
    id: str
    jid: str
    display_name: str
    role: Role
    email: str | None
    phone: str | None

    @classmethod
    def of(cls, membership: Membership, person: Person) -> PersonView:
        return cls(person.external_id, person.jid, person.display_name, membership.role,
                   person.email, person.phone)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "jid": self.jid, "display_name": self.display_name, "role": self.role,
                "email": self.email, "phone": self.phone}


@dataclass(frozen=True)
class PutPersonResult:
    person: PersonView
    created: bool
    password: str | None  # only when we generated it
    roster_synced: bool


@dataclass(frozen=True)
class SearchHit:
    business_id: str
    business_name: str
    person: PersonView


class MembershipListener(Protocol):
    async def membership_changed(self, business_id: int, person_id: int, involves_owner: bool) -> None: ...


class NameListener(Protocol):
    """Publishes people's names where clients look for them (services.names.NameService)."""

    async def person_named(self, jid: str, name: str) -> bool: ...
    async def person_left(self, jid: str) -> None: ...


class PasswordVault(Protocol):
    async def remember(self, session: Any, person_id: int, password: str) -> None: ...


class DirectoryService:
    def __init__(self, database: Database, accounts: AccountAdapter, rosters: RosterService | None,
                 domain: str) -> None:
        self.database, self.accounts, self.rosters, self.domain = database, accounts, rosters, domain
        self.listeners: list[MembershipListener] = []  # the rooms follow memberships
        self.vault: PasswordVault | None = None  # keeps passwords for the web page's login
        self.retention_seconds: int | None = None  # archive.retention (None: never), set by app.py
        self.names: NameListener | None = None  # the display name in the person's PEP (nick, vCard)

    async def _membership_changed(self, business_id: int, person_id: int, involves_owner: bool) -> None:
        for listener in self.listeners:
            try:
                await listener.membership_changed(business_id, person_id, involves_owner)
            except Exception:  # noqa: BLE001 - derived state; reconciled at the next resynchronisation
                log.exception("Updating the rooms after a membership change failed")

    # -------------------------------------------------------------------------------------- businesses
    async def put_business(self, external_id: str, body: Any) -> tuple[dict[str, Any], bool]:
        check_external_id("business", external_id)
        if not isinstance(body, dict) or set(body) - {"name"}:
            raise invalid("body", "a JSON object with only 'name' is required")
        name = validate_display_name(body.get("name"))
        if name is None:
            raise invalid("name", "a name of 1 to 200 printable characters is required")
        async with self.database.session() as session:
            repo = BusinessRepository(session)
            business = await repo.get_by_external_id(external_id, include_deleted=True)
            if business is not None and business.deleted_at is not None:
                until = retention_end(business.deleted_at, self.retention_seconds)
                raise DomainError(BUSINESS_DELETED, f"business {external_id!r} was deleted on "
                                  f"{business.deleted_at.date()}; its id is not reused while its records are kept"
                                  f" ({'until ' + str(until.date()) if until else 'no retention expires them'})",
                                  deleted_at=business.deleted_at.isoformat(),
                                  kept_until=until.isoformat() if until else None)
            created = business is None
            if business is None:
                business = await repo.add(external_id, name)
            else:
                business.name = name
            try:
                await session.commit()
            except IntegrityError:
                raise DomainError(CONFLICT, f"business {external_id!r} was created concurrently; retry") from None
            return await self._business_json(session, business), created

    async def get_business(self, external_id: str) -> dict[str, Any]:
        async with self.database.session() as session:
            business = await self._business(session, external_id)
            return await self._business_json(session, business)

    async def list_businesses(self) -> list[dict[str, Any]]:
        async with self.database.session() as session:
            return [await self._business_json(session, b) for b in await BusinessRepository(session).list()]

    async def delete_business(self, external_id: str) -> dict[str, Any]:
        """Delete a business: access goes at once, history stays until retention (the answer lists both).

        Goes: memberships (so every roster entry and room membership of the business, and its bookmarks),
        unused upload slots, web login links and sessions, export links. Stays, as a tombstone that only the
        audit log and the export still answer for, until `archive.retention` after the deletion: rooms and
        appointments, room messages with their delivered/read status, uploaded files, the audit log (with
        the deletion itself), and at the server the rooms' archives and each person's own archive. People
        and their accounts stay (they may belong to other businesses); retention purges the tombstone.
        """
        now = utcnow()
        async with self.database.session() as session:
            business = await self._business(session, external_id)
            members = await MembershipRepository(session).list_for_business(business.id)
            people = [Contact.of(m.person) for m in members]
            deletion = BusinessDeletionStore(session)
            removed = await deletion.remove_access(business.id)
            kept = await deletion.history(business.id)
            kept["audit_entries"] += 1  # this deletion's own entry
            business.deleted_at = now
            until = retention_end(now, self.retention_seconds)
            answer: dict[str, Any] = {
                "deleted": True, "id": business.external_id, "deleted_at": now.isoformat(),
                "removed": removed, "kept": {**kept, "until": until.isoformat() if until else None},
                "export": (f"/v1/businesses/{business.external_id}/export?from={business.created_at.date()}"
                           f"&to={now.date()}"),
            }
            AuditRepository(session).add(business.id, "api", "business_deleted",
                                         details={"removed": removed, "kept": answer["kept"]})
            business_pk = business.id
            await session.commit()
        log.info("Business %s deleted: removed %s; kept until %s: %s", external_id, removed,
                 answer["kept"]["until"] or "never expires", kept)
        synced = True
        for contact in people:  # each roster over the businesses that remain
            synced &= await self._apply(contact, None)
            if self.names is not None:
                await self.names.person_left(contact.jid)
        if people:  # every room of the business loses its members and their bookmarks (audited)
            await self._membership_changed(business_pk, people[0].id, True)
        return {**answer, "roster_synced": synced}

    async def _business(self, session: Any, external_id: str) -> Business:
        business = await BusinessRepository(session).get_by_external_id(external_id, include_deleted=True)
        if business is None:
            raise DomainError(NOT_FOUND, f"no business {external_id!r}")
        if business.deleted_at is not None:
            raise DomainError(NOT_FOUND, f"business {external_id!r} was deleted on "
                              f"{business.deleted_at.date()}; its audit log and export still answer",
                              deleted_at=business.deleted_at.isoformat())
        return business

    async def _business_json(self, session: Any, business: Business) -> dict[str, Any]:
        counts = {role: len(await MembershipRepository(session).list_for_business(business.id, role))
                  for role in ROLES}
        return {"id": business.external_id, "name": business.name,
                "created_at": business.created_at.isoformat(), "people": counts}

    # ------------------------------------------------------------------------------------------ people
    async def put_person(self, business_id: str, person_id: str, data: PersonInput) -> PutPersonResult:
        check_external_id("person", person_id)
        async with self.database.session() as session:
            await self._business(session, business_id)  # 404 before any account is made
            person = await PersonRepository(session).get_by_external_id(person_id)
            if person is not None and data.jid is not None and data.jid != person.jid:
                raise DomainError(CONFLICT, f"person {person_id!r} has the JID {person.jid}; it cannot change",
                                  field="jid")
            jid = person.jid if person is not None else data.jid
            if person is None and jid is not None:
                holder = await PersonRepository(session).get_by_jid(jid)
                if holder is not None:
                    raise DomainError(CONFLICT, f"{jid} already belongs to person {holder.external_id!r}",
                                      field="jid")

        generated: str | None = None
        account_created = False
        known_password = data.password  # what the account's password is now, when we know it
        if person is None:
            jid = jid or f"{localpart_for(data.display_name)}@{self.domain}"
            password = data.password or secrets.token_urlsafe(12)
            account_created = await self.accounts.create_account(jid, password)
            if account_created:
                known_password = password
            if account_created and data.password is None:
                generated = password
            elif not account_created and data.password is not None:
                await self.accounts.set_password(jid, data.password)
        elif data.password is not None:
            await self.accounts.set_password(person.jid, data.password)
        assert jid is not None

        named = person is None or person.display_name != data.display_name
        try:
            view, me, created, old_role, related, view_business_pk = await self._write_person(
                business_id, person_id, jid, data)
        except BaseException:
            if account_created:
                await self._undo_account(jid)
            raise
        if known_password is not None:
            await self._remember_password(me.id, jid, known_password)
        if named and self.names is not None:
            await self.names.person_named(jid, data.display_name)
        synced = await self._apply(me, None)
        for contact in related:
            synced &= await self._apply(contact, [me])
        if old_role != data.role:
            await self._membership_changed(view_business_pk, me.id, "owner" in (old_role, data.role))
        log.info("Person %s (%s) %s in business %s as %s%s", person_id, jid, "added" if created else "updated",
                 business_id, data.role, f" (was {old_role})" if old_role and old_role != data.role else "")
        return PutPersonResult(view, created, generated, synced)

    async def _write_person(self, business_id: str, person_id: str, jid: str, data: PersonInput
                            ) -> tuple[PersonView, Contact, bool, Role | None, list[Contact], int]:
        async with self.database.session() as session:
            business = await self._business(session, business_id)
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
            return PersonView.of(membership, person), Contact.of(person), created, old_role, related, business.id

    async def _remember_password(self, person_id: int, jid: str, password: str) -> None:
        if self.vault is None:
            return
        try:
            # After the request's own commit: waits the default for the lock, not the API's bound (with eight
            # requests in flight on SQLite the bound gave this write up and the web page had no password).
            with default_lock_waits():
                async with self.database.session() as session:
                    await self.vault.remember(session, person_id, password)
                    await session.commit()
        except Exception:  # noqa: BLE001 - the account works; only the web page's login waits for the next PUT
            log.exception("Could not keep the password of %s for the web page", jid)

    async def _undo_account(self, jid: str) -> None:
        try:
            await self.accounts.delete_account(jid)
        except Exception:  # noqa: BLE001 - the original error matters more
            log.exception("Could not delete the account %s created for a failed directory write", jid)

    async def _membership(self, session: Any, business_id: str, person_id: str
                          ) -> tuple[Business, Person, Membership]:
        business = await self._business(session, business_id)
        person = await PersonRepository(session).get_by_external_id(person_id)
        membership = person and await MembershipRepository(session).get(business.id, person.id)
        if person is None or not membership:
            raise DomainError(NOT_FOUND, f"no person {person_id!r} in business {business_id!r}")
        return business, person, membership

    async def get_person(self, business_id: str, person_id: str) -> PersonView:
        async with self.database.session() as session:
            _, person, membership = await self._membership(session, business_id, person_id)
            return PersonView.of(membership, person)

    async def list_people(self, business_id: str, query: str = "", role: str | None = None,
                          limit: int = 50, offset: int = 0) -> list[PersonView]:
        roles: list[Role] | None = None
        if role is not None:
            parsed = parse_role(role)
            if parsed is None:
                raise invalid("role", f"{role!r} is not one of {', '.join(ROLES)}")
            roles = [parsed]
        if not 1 <= limit <= MAX_SEARCH_RESULTS or offset < 0:
            raise invalid("limit", f"limit must be 1 to {MAX_SEARCH_RESULTS} and offset at least 0")
        async with self.database.session() as session:
            business = await self._business(session, business_id)
            rows = await DirectoryQueries(session).search(business.id, query.strip(), roles, limit, offset)
            return [PersonView.of(m, m.person) for m in rows]

    async def remove_person(self, business_id: str, person_id: str) -> bool:
        """Remove a person's membership of a business (their account and other memberships stay)."""
        async with self.database.session() as session:
            business, person, membership = await self._membership(session, business_id, person_id)
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
        synced = await self._apply(removed, None)
        for contact in related:
            synced &= await self._apply(contact, [removed])
        await self._membership_changed(business_pk, removed.id, was_owner)
        if self.names is not None:
            await self.names.person_left(removed.jid)
        return synced

    async def _apply(self, person: Contact, scope: list[Contact] | None) -> bool:
        if self.rosters is None:
            return False
        try:
            with default_lock_waits():  # derived writes after the request's commit (see _remember_password)
                changes: RosterChanges = await self.rosters.apply(person, scope)
        except Exception:  # noqa: BLE001 - derived state; the next reconciliation repairs it
            log.exception("Roster update for %s failed", person.jid)
            return False
        return changes.failed == 0

    # ------------------------------------------------------------------------------------------ search
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
