"""/v1/businesses and /v1/businesses/{business}: create, read, update, delete, list."""

from __future__ import annotations

from aiohttp import web

from ..http_common.requests import read_json
from .context import CONTEXT


async def list_businesses(request: web.Request) -> web.Response:
    directory = request.app[CONTEXT].directory
    return web.json_response({"businesses": await directory.businesses.list_all()})


async def get_business(request: web.Request) -> web.Response:
    directory = request.app[CONTEXT].directory
    return web.json_response(await directory.businesses.get(request.match_info["business"]))


async def put_business(request: web.Request) -> web.Response:
    directory = request.app[CONTEXT].directory
    body, created = await directory.businesses.put(request.match_info["business"], await read_json(request))
    return web.json_response(body, status=201 if created else 200)


async def delete_business(request: web.Request) -> web.Response:
    directory = request.app[CONTEXT].directory
    return web.json_response(await directory.businesses.delete(request.match_info["business"]))
