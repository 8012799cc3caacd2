"""/v1/businesses/{business}/appointments/{appointment}: PUT creates or updates, GET reads, DELETE cancels."""

from __future__ import annotations

from aiohttp import web

from ..http_common.requests import read_json
from ..services.appointments import AppointmentInput
from .context import CONTEXT


async def put_appointment(request: web.Request) -> web.Response:
    data = AppointmentInput.from_json(await read_json(request))
    body, created = await request.app[CONTEXT].appointments.put(
        request.match_info["business"], request.match_info["appointment"], data)
    return web.json_response(body, status=201 if created else 200)


async def get_appointment(request: web.Request) -> web.Response:
    body = await request.app[CONTEXT].appointments.get(request.match_info["business"],
                                                        request.match_info["appointment"])
    return web.json_response(body)


async def cancel_appointment(request: web.Request) -> web.Response:
    body = await request.app[CONTEXT].appointments.cancel(request.match_info["business"],
                                                           request.match_info["appointment"])
    return web.json_response(body)
