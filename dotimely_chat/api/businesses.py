"""Businesses, read side: GET /v1/businesses and GET /v1/businesses/{business}."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import NOT_FOUND, DomainError
from ..storage import BusinessRepository, MembershipRepository
from ..storage.models import Business
from .context import CONTEXT


def _business_json(business: Business) -> dict[str, Any]:
    return {"id": business.external_id, "name": business.name, "created_at": business.created_at.isoformat()}


async def list_businesses(request: web.Request) -> web.Response:
    async with request.app[CONTEXT].database.session() as session:
        businesses = await BusinessRepository(session).list()
    return web.json_response({"businesses": [_business_json(b) for b in businesses]})


async def get_business(request: web.Request) -> web.Response:
    external_id = request.match_info["business"]
    async with request.app[CONTEXT].database.session() as session:
        business = await BusinessRepository(session).get_by_external_id(external_id)
        if business is None:
            raise DomainError(NOT_FOUND, f"no business {external_id!r}")
        memberships = await MembershipRepository(session).list_for_business(business.id)
    body = _business_json(business)
    body["people"] = [
        {"id": m.person.external_id, "jid": m.person.jid, "display_name": m.person.display_name,
         "role": m.role}
        for m in memberships
    ]
    return web.json_response(body)
