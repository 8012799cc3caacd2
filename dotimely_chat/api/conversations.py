"""/v1/businesses/{business}/conversations: POST starts (or returns) an appointment room, GET lists them."""

from __future__ import annotations

from aiohttp import web

from ..http_common.requests import int_param, read_json
from ..services.rooms import MAX_ROOMS_LISTED, StartChat
from .context import CONTEXT


async def start_conversation(request: web.Request) -> web.Response:
    data = StartChat.from_json(await read_json(request))
    room, created = await request.app[CONTEXT].rooms.start_chat(request.match_info["business"], data)
    return web.json_response(room, status=201 if created else 200)


async def list_conversations(request: web.Request) -> web.Response:
    rooms = await request.app[CONTEXT].rooms.list_rooms(
        request.match_info["business"], request.query.get("person"),
        int_param(request, "limit", 100, minimum=1, maximum=MAX_ROOMS_LISTED), int_param(request, "offset", 0))
    return web.json_response({"conversations": rooms})
