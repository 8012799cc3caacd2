"""The web page's aiohttp application: the page, its static files, the login link and its JSON API."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from ..config import Config
from ..http_common.middleware import json_errors, request_limits
from ..services.web_conversations import WebConversations
from ..services.web_login import WebLoginService
from . import views
from .page import security_headers
from .views import WEB, WebContext

STATIC_DIR = Path(__file__).parent / "static"


@web.middleware
async def static_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Our security headers on static files too; the vendored Converse files change only with its pin."""
    response = await handler(request)
    if request.path.startswith("/web/static/"):
        config: Config = request.app[WEB].config
        for name, value in security_headers(config).items():
            response.headers.setdefault(name, value)
        vendored = request.path.startswith("/web/static/vendor/")
        response.headers["Cache-Control"] = "public, max-age=86400" if vendored else "no-cache"
    return response


def build_web_app(config: Config, logins: WebLoginService, conversations: WebConversations) -> web.Application:
    app = web.Application(middlewares=[json_errors, static_headers, request_limits], client_max_size=64 * 1024)
    app[WEB] = WebContext(config, logins, conversations)
    app.router.add_get("/", views.root)
    app.router.add_get("/web", views.root)
    app.router.add_get("/web/", views.page)
    app.router.add_get("/web/login", views.login)
    app.router.add_get("/web/api/session", views.session_info)
    app.router.add_get("/web/api/xmpp-credentials", views.xmpp_credentials)
    app.router.add_get("/web/api/conversations", views.conversations)
    app.router.add_post("/web/api/conversations", views.start_conversation)
    app.router.add_get("/web/api/people", views.people)
    app.router.add_get("/web/api/appointments", views.appointments)
    app.router.add_get("/web/api/presence/{jid}", views.presence)
    app.router.add_get("/web/api/rooms/{room}/messages/{stanza_id}/status", views.message_status)
    app.router.add_static("/web/static/", STATIC_DIR, follow_symlinks=False)
    return app
