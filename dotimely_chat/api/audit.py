"""/v1/businesses/{business}/audit: the audit log (memberships, reverts, appointment changes)."""

from __future__ import annotations

from aiohttp import web

from ..http_common.requests import int_param
from .context import CONTEXT

MAX_AUDIT_ENTRIES = 10_000


async def list_audit(request: web.Request) -> web.Response:
    limit = int_param(request, "limit", 1000, minimum=1, maximum=MAX_AUDIT_ENTRIES)
    entries = await request.app[CONTEXT].audit.entries(request.match_info["business"], limit)
    return web.json_response({"entries": entries})
