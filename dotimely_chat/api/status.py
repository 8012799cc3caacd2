"""Delivery/read status and presence: GET .../conversations/{id}/messages/{stanza_id}/status,
GET .../conversations/{id}/status and GET .../people/{person}/presence. With `?viewer=<person id>` the
answer is what that person may see (PRODUCT.md §3); without it, the backend sees its business."""

from __future__ import annotations

from aiohttp import web

from ..errors import UNAVAILABLE, DomainError
from ..services.status_queries import StatusQueries
from .context import CONTEXT


def _service(request: web.Request) -> StatusQueries:
    service = request.app[CONTEXT].status
    if service is None:
        raise DomainError(UNAVAILABLE, "status and presence are not available in this process")
    return service


async def message_status(request: web.Request) -> web.Response:
    info = request.match_info
    body = await _service(request).message_status(
        info["business"], info["conversation"], info["stanza_id"], request.query.get("viewer"))
    return web.json_response(body)


async def conversation_status(request: web.Request) -> web.Response:
    info = request.match_info
    body = await _service(request).conversation_status(
        info["business"], info["conversation"], request.query.get("viewer"))
    return web.json_response(body)


async def presence(request: web.Request) -> web.Response:
    info = request.match_info
    body = await _service(request).presence(info["business"], info["person"], request.query.get("viewer"))
    return web.json_response(body)
