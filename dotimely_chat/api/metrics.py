"""GET /metrics: the service's Prometheus metrics (text format 0.0.4, or OpenMetrics when asked for).

Public like /healthz: a Prometheus scrape job expects no credentials by default, and handing it the API's
bearer token would give the scraper every right of the booking backend. The figures carry no names or ids.
"""

from __future__ import annotations

from aiohttp import web

from .context import CONTEXT


async def serve_metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[CONTEXT].metrics.exposition(request.headers.get("Accept"))
    # The content type carries a version parameter, which aiohttp's content_type= refuses: set the header.
    return web.Response(body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
