"""POST /v1/businesses/{business}/people/{person}/web-login: a one-time link that opens the web page logged
in as that person (the booking backend hands it to the person's browser)."""

from __future__ import annotations

from aiohttp import web

from ..errors import UNAVAILABLE, DomainError
from .context import CONTEXT


async def issue_web_login(request: web.Request) -> web.Response:
    logins = request.app[CONTEXT].web_logins
    if logins is None:
        raise DomainError(UNAVAILABLE, "the web page is not served by this process")
    body = await logins.issue_link(request.match_info["business"], request.match_info["person"])
    return web.json_response(body, status=201, headers={"Cache-Control": "no-store"})
