"""The page, the login link and the page's JSON API (read with the session cookie, never a bearer token)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from ..config import Config
from ..errors import FORBIDDEN, UNAUTHORIZED, DomainError
from ..http_common.requests import read_json
from ..policies.web_login import (
    COOKIE_NAME,
    LINK_PAGES,
    NO_ACCESS_PAGE,
    SIGNED_OUT_PAGE,
    LinkState,
    cookie_secure,
)
from ..services.web_conversations import WebConversations
from ..services.web_login import WebLoginService, WebUser
from .page import chat_page, message_page, origin, security_headers

log = logging.getLogger(__name__)


@dataclass
class WebContext:
    config: Config
    logins: WebLoginService
    conversations: WebConversations


WEB: web.AppKey[WebContext] = web.AppKey("dotimely_web", WebContext)
_LINK_STATUS = {LinkState.USED: 410, LinkState.EXPIRED: 410, LinkState.UNKNOWN: 404}


def _html(config: Config, text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8",
                        headers=security_headers(config))


async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/web/")


async def page(request: web.Request) -> web.Response:
    return _html(request.app[WEB].config, chat_page(request.app[WEB].config))


async def login(request: web.Request) -> web.Response:
    """GET /web/login?ticket=…: a valid link becomes a session cookie and a redirect to the page."""
    ctx = request.app[WEB]
    redeemed = await ctx.logins.redeem(request.query.get("ticket", ""))
    if redeemed.state is not LinkState.VALID:
        log.info("Web login link refused: %s", redeemed.state.value)
        title, text = LINK_PAGES[redeemed.state]
        return _html(ctx.config, message_page(title, text), _LINK_STATUS[redeemed.state])
    if not redeemed.still_member or redeemed.cookie is None:
        return _html(ctx.config, message_page(*NO_ACCESS_PAGE), 403)
    response = web.HTTPFound("/web/", headers=security_headers(ctx.config))
    assert redeemed.expires_at is not None
    response.set_cookie(COOKIE_NAME, redeemed.cookie, path="/web/", httponly=True, samesite="Strict",
                        secure=cookie_secure(ctx.config.web.public_url),
                        max_age=ctx.config.web.session_lifetime)
    raise response


async def _user(request: web.Request) -> WebUser:
    """The session's person; 401 `signed_out` or 403 `no_access` with the text the page shows."""
    user, still_member = await request.app[WEB].logins.user_of(request.cookies.get(COOKIE_NAME))
    if user is None:
        title, text = SIGNED_OUT_PAGE if still_member else NO_ACCESS_PAGE
        kind = UNAUTHORIZED if still_member else FORBIDDEN
        raise DomainError(kind, text, title=title, reason="signed_out" if still_member else "no_access")
    return user


def _json(body: object, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


async def session_info(request: web.Request) -> web.Response:
    user = await _user(request)
    return _json(user.to_json())


async def xmpp_credentials(request: web.Request) -> web.Response:
    """Converse's `credentials_url`: {"jid", "password"}, never cached."""
    user = await _user(request)
    return _json(await request.app[WEB].logins.credentials(user))


async def conversations(request: web.Request) -> web.Response:
    user = await _user(request)
    return _json(await request.app[WEB].conversations.conversations(user))


async def start_conversation(request: web.Request) -> web.Response:
    ctx = request.app[WEB]
    if request.headers.get("Origin") != origin(ctx.config.web.public_url):
        raise DomainError(FORBIDDEN, "requests that change something must come from the chat page itself")
    user = await _user(request)
    room, created = await ctx.conversations.start_room(user, await read_json(request))
    return _json(room, 201 if created else 200)


async def people(request: web.Request) -> web.Response:
    """Converse's `xhr_user_search_url` shape: a JSON array of {jid, fullname}."""
    user = await _user(request)
    return _json(await request.app[WEB].conversations.search(user, request.query.get("q", "")))


async def appointments(request: web.Request) -> web.Response:
    user = await _user(request)
    return _json(await request.app[WEB].conversations.appointments_of(user))


async def presence(request: web.Request) -> web.Response:
    user = await _user(request)
    return _json(await request.app[WEB].conversations.presence(user, request.match_info["jid"]))


async def message_status(request: web.Request) -> web.Response:
    user = await _user(request)
    info = request.match_info
    return _json(await request.app[WEB].conversations.message_status(user, info["room"], info["stanza_id"]))
