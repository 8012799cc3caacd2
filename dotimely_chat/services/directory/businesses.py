"""Businesses: create or rename, read, list, delete (access goes at once, history stays until retention)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.exc import IntegrityError

from ...errors import BUSINESS_DELETED, CONFLICT, DomainError
from ...policies.people import validate_display_name
from ...policies.roles import ROLES
from ...storage import AuditRepository, BusinessRepository, Database, MembershipRepository, utcnow
from ...storage.business_deletion import BusinessDeletionStore
from ...storage.models.directory import Business
from ..input_checks import check_external_id, invalid
from ..rosters import Contact
from .effects import DirectoryEffects
from .lookup import active_business

log = logging.getLogger(__name__)


def retention_end(start: dt.datetime, retention_seconds: int | None) -> dt.datetime | None:
    """When records made up to `start` have all expired; None when retention is `never`."""
    return None if retention_seconds is None else start + dt.timedelta(seconds=retention_seconds)


class Businesses:
    def __init__(self, database: Database, effects: DirectoryEffects) -> None:
        self.database, self.effects = database, effects
        self.retention_seconds: int | None = None  # archive.retention (None: never), set by app.py

    async def put(self, external_id: str, body: Any) -> tuple[dict[str, Any], bool]:
        """Create or rename a business; True when created. A deleted business's id is not reused."""
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
                kept = f"until {until.date()}" if until else "no retention expires them"
                raise DomainError(BUSINESS_DELETED, f"business {external_id!r} was deleted on "
                                  f"{business.deleted_at.date()}; its id is not reused while its records are "
                                  f"kept ({kept})",
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
                raise DomainError(CONFLICT,
                                  f"business {external_id!r} was created concurrently; retry") from None
            return await _business_json(session, business), created

    async def get(self, external_id: str) -> dict[str, Any]:
        async with self.database.session() as session:
            business = await active_business(session, external_id)
            return await _business_json(session, business)

    async def list_all(self) -> list[dict[str, Any]]:
        async with self.database.session() as session:
            return [await _business_json(session, b) for b in await BusinessRepository(session).list()]

    async def delete(self, external_id: str) -> dict[str, Any]:
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
            business = await active_business(session, external_id)
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
            synced &= await self.effects.apply_roster(contact, None)
            await self.effects.person_left(contact.jid)
        if people:  # every room of the business loses its members and their bookmarks (audited)
            await self.effects.membership_changed(business_pk, people[0].id, True)
        return {**answer, "roster_synced": synced}


async def _business_json(session: Any, business: Business) -> dict[str, Any]:
    counts = {role: len(await MembershipRepository(session).list_for_business(business.id, role))
              for role in ROLES}
    return {"id": business.external_id, "name": business.name,
            "created_at": business.created_at.isoformat(), "people": counts}
