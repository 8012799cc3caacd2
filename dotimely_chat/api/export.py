"""Exports: GET /v1/businesses/{business}/export?from=&to=&format=jsonl|html[&viewer=<person id>] (bearer
token; with `viewer`, only an owner of the business gets it) and GET /v1/exports/{token}, the single-use,
expiring link the `export` command hands out (the token is the credential: no bearer token).

Everything is checked before the first byte; then the body streams (flat memory). An archive that fails in
the middle ends the export without its closing 'end' record (JSON Lines) or closing line (HTML)."""

from __future__ import annotations

import logging

from aiohttp import web

from ..errors import UNAVAILABLE, DomainError
from ..services.export import ExportRequest, ExportService
from ..services.export_formats import CONTENT_TYPES, render
from .context import CONTEXT

log = logging.getLogger(__name__)

HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"


def _service(request: web.Request) -> ExportService:
    service = request.app[CONTEXT].export
    if service is None:
        raise DomainError(UNAVAILABLE, "exports are not available in this process")
    return service


async def export_business(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    query = request.query
    checked = await service.check(request.match_info["business"], query.get("from"), query.get("to"),
                                  query.get("format"), viewer_ext=query.get("viewer"))
    await service.record(checked, via="api")
    return await stream(request, service, checked)


async def download(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    checked = await service.redeem(request.match_info["token"])
    await service.record(checked, via="link")
    return await stream(request, service, checked)


async def stream(request: web.Request, service: ExportService, checked: ExportRequest) -> web.StreamResponse:
    name = f"{checked.business_ext}-{checked.range.start:%Y%m%d}-{checked.range.end:%Y%m%d}.{checked.format}"
    response = web.StreamResponse(headers={
        "Content-Type": CONTENT_TYPES[checked.format],
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        **({"Content-Security-Policy": HTML_CSP} if checked.format == "html" else {}),
    })
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        async for chunk in render(service.records(checked), checked.format):
            await response.write(chunk)
    except Exception:
        # Headers are gone: the truncated body (no 'end' record) tells the client; the log tells us.
        log.exception("Export of %s for %s broke off", checked.business_ext, checked.actor)
        return response
    await response.write_eof()
    return response
