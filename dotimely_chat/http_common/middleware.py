"""Middleware of the HTTP front doors: errors as JSON with a stable errcode (503 + Retry-After for passing
faults), parameters that must be XML text, bounded lock waits."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from ..errors import INTERNAL, DomainError
from ..services.passing_faults import lock_waits_at_most, passing_fault
from .requests import check_parameters

log = logging.getLogger(__name__)

_STATUS_ERRCODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 400: "bad_request",
                    415: "unsupported_media_type"}
# How long a request (API, web page) waits for a database lock another writer holds before it is answered 503.
REQUEST_LOCK_WAIT_SECONDS = 1.0


def error_response(status: int, errcode: str, message: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": message}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        return domain_error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        errcode = _STATUS_ERRCODES.get(exc.status, "http_error")
        return error_response(exc.status, errcode, exc.reason)
    except Exception as exc:
        fault = passing_fault(exc)
        if fault is not None:
            log.warning("%s %s answered %d %s: %s", request.method, request.path, fault.kind.http_status,
                        fault.kind.errcode, exc.__class__.__name__)
            return domain_error_response(fault)
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, INTERNAL.errcode, "internal error; see the service log")


def domain_error_response(exc: DomainError) -> web.Response:
    return web.json_response(exc.to_json(), status=exc.kind.http_status, headers=exc.http_headers())


@web.middleware
async def request_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Path and query parameters must be XML text (they name businesses, people, rooms); a database lock
    held by another writer is waited for at most REQUEST_LOCK_WAIT_SECONDS."""
    check_parameters(request.match_info, "path")
    check_parameters(request.query, "query")
    with lock_waits_at_most(REQUEST_LOCK_WAIT_SECONDS):
        return await handler(request)
