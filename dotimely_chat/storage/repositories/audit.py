"""The audit log of a business (append only)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dotimely_chat.storage.models.compliance import AuditEntry


class AuditRepository:
    """The audit log of a business (append only)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, business_id: int, actor: str, action: str, *, room_jid: str | None = None,
            subject_jid: str | None = None, details: dict[str, Any] | None = None) -> AuditEntry:
        entry = AuditEntry(business_id=business_id, actor=actor, action=action, room_jid=room_jid,
                           subject_jid=subject_jid, details=json.dumps(details or {}, sort_keys=True))
        self._session.add(entry)  # written with the use case's commit (no round trip per entry)
        return entry

    async def list(self, business_id: int, since: dt.datetime | None = None, until: dt.datetime | None = None,
                   limit: int = 1000) -> Sequence[AuditEntry]:
        statement = select(AuditEntry).where(AuditEntry.business_id == business_id)
        if since is not None:
            statement = statement.where(AuditEntry.at >= since)
        if until is not None:
            statement = statement.where(AuditEntry.at < until)
        return (await self._session.scalars(statement.order_by(AuditEntry.at, AuditEntry.id).limit(limit))).all()
