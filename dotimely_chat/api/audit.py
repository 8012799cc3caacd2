"""/v1/businesses/{business}/audit: the audit log (memberships, reverts, appointment changes)."""

from __future__ import annotations

import json

from aiohttp import web

from ..errors import NOT_FOUND, DomainError
from ..http_common.requests import int_param
from ..storage import AuditRepository, BusinessRepository
from .context import CONTEXT

MAX_AUDIT_ENTRIES = 10_000


async def list_audit(request: web.Request) -> web.Response:
    business_ext = request.match_info["business"]
    limit = int_param(request, "limit", 1000, minimum=1, maximum=MAX_AUDIT_ENTRIES)
    async with request.app[CONTEXT].database.session() as session:
        # A deleted business's audit log (its deletion included) answers until retention expires it.
        business = await BusinessRepository(session).get_by_external_id(business_ext, include_deleted=True)
        if business is None:
            raise DomainError(NOT_FOUND, f"no business {business_ext!r}")
        entries = await AuditRepository(session).list(business.id, limit=limit)
    return web.json_response({"entries": [
        {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "room": e.room_jid,
         "subject": e.subject_jid, "details": json.loads(e.details)} for e in entries]})
