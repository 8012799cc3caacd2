"""Reading a business's audit log (memberships, reverts, appointment changes, exports)."""

from __future__ import annotations

import json
from typing import Any

from ..errors import NOT_FOUND, DomainError
from ..storage import AuditRepository, BusinessRepository, Database


class AuditLog:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def entries(self, business_ext: str, limit: int) -> list[dict[str, Any]]:
        """The first `limit` entries, oldest first, as JSON objects. A deleted business's audit log (its
        deletion included) answers until retention expires it."""
        async with self.database.session() as session:
            businesses = BusinessRepository(session)
            business = await businesses.get_by_external_id(business_ext, include_deleted=True)
            if business is None:
                raise DomainError(NOT_FOUND, f"no business {business_ext!r}")
            entries = await AuditRepository(session).list(business.id, limit=limit)
        return [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "room": e.room_jid,
                 "subject": e.subject_jid, "details": json.loads(e.details)} for e in entries]
