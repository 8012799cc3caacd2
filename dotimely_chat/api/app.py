"""The HTTP API application: routes and middlewares."""

from __future__ import annotations

from aiohttp import web

from . import businesses, health, openapi
from .context import CONTEXT, ApiContext
from .middleware import bearer_auth, json_errors

MAX_BODY_BYTES = 1024 * 1024


def build_api_app(context: ApiContext) -> web.Application:
    app = web.Application(middlewares=[json_errors, bearer_auth], client_max_size=MAX_BODY_BYTES)
    app[CONTEXT] = context
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/v1/openapi.json", openapi.serve_openapi)
    app.router.add_get("/v1/businesses", businesses.list_businesses)
    app.router.add_get("/v1/businesses/{business}", businesses.get_business)
    return app
