"""Front-door concerns of the HTTP API: errors as JSON with a stable errcode, bearer-token auth."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from ..errors import INTERNAL, UNAUTHORIZED, DomainError
from .context import CONTEXT

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/healthz", "/v1/openapi.json"})
PUBLIC_PREFIXES = ("/v1/exports/",)  # single-use export links: the token in the path is the credential
_STATUS_ERRCODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 400: "bad_request"}


def error_response(status: int, errcode: str, message: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": message}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return web.json_response(exc.to_json(), status=exc.kind.http_status, headers=headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        errcode = _STATUS_ERRCODES.get(exc.status, "http_error")
        return error_response(exc.status, errcode, exc.reason)
    except Exception:
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, INTERNAL.errcode, "internal error; see the service log")


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
