"""The upload host: its own HTTPS listener (XEP-0363 clients such as Gajim refuse plain HTTP).

`/healthz`, and with an UploadService the files: PUT to a slot's URL, GET/HEAD, OPTIONS (CORS preflight).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from aiohttp import web

from ..http_common.middleware import json_errors
from ..services.uploads import UploadService
from .views import UPLOADS, dispatch

# Request heads past these limits are refused with 400 before any view runs.
HEAD_LIMITS = {"max_line_size": 8190, "max_field_size": 8190, "max_headers": 64}


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": "upload"})


async def _no_early_continue(_request: web.Request) -> None:
    """'Expect: 100-continue' is answered by the PUT view after the slot check, not before."""


def build_upload_app(upload_directory: Path, uploads: UploadService | None = None) -> web.Application:
    upload_directory.mkdir(parents=True, exist_ok=True)
    app = web.Application(middlewares=[json_errors], handler_args=HEAD_LIMITS, client_max_size=1024**2)
    if uploads is None:
        app.router.add_get("/healthz", _health)
        return app
    app[UPLOADS] = uploads
    app.router.add_route("*", "/{tail:.*}", dispatch, expect_handler=_no_early_continue)
    return app


def server_ssl_context(certificate: Path, private_key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, private_key)
    return context
