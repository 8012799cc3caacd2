"""/v1/businesses/{business}/people[/{person}]: PUT (creates the XMPP account when missing), GET, DELETE,
list and search."""

from __future__ import annotations

from aiohttp import web

from ..http_common.requests import int_param, read_json
from ..services.directory.people import MAX_SEARCH_RESULTS
from ..services.directory.person_input import PersonInput
from .context import CONTEXT


async def put_person(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    data = PersonInput.from_json(await read_json(request), ctx.config.xmpp.domain)
    people = ctx.directory.people
    result = await people.put(request.match_info["business"], request.match_info["person"], data)
    body = result.person.to_json()
    body["roster_synced"] = result.roster_synced
    if result.password is not None:
        body["password"] = result.password
    return web.json_response(body, status=201 if result.created else 200)


async def get_person(request: web.Request) -> web.Response:
    people = request.app[CONTEXT].directory.people
    person = await people.get(request.match_info["business"], request.match_info["person"])
    return web.json_response(person.to_json())


async def delete_person(request: web.Request) -> web.Response:
    people = request.app[CONTEXT].directory.people
    synced = await people.remove(request.match_info["business"], request.match_info["person"])
    return web.json_response({"removed": True, "roster_synced": synced})


async def list_people(request: web.Request) -> web.Response:
    people = await request.app[CONTEXT].directory.people.in_business(
        request.match_info["business"], request.query.get("q", ""), request.query.get("role"),
        int_param(request, "limit", 50, minimum=1, maximum=MAX_SEARCH_RESULTS), int_param(request, "offset", 0))
    return web.json_response({"people": [p.to_json() for p in people]})
