"""The API's own middleware: bearer-token auth (the shared ones are in http_common/middleware.py)."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler

from ..errors import UNAUTHORIZED, DomainError
from .context import CONTEXT

PUBLIC_PATHS = frozenset({"/healthz", "/metrics", "/v1/openapi.json"})
PUBLIC_PREFIXES = ("/v1/exports/",)  # single-use export links: the token in the path is the credential


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    expected = request.app[CONTEXT].config.api.token
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise DomainError(UNAUTHORIZED, "missing bearer token: send 'Authorization: Bearer <api.token>'")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise DomainError(UNAUTHORIZED, "wrong bearer token")
    return await handler(request)
