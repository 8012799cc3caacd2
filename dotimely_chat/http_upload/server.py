"""The upload host: its own HTTPS listener (XEP-0363 clients such as Gajim refuse plain HTTP).

This first version serves only its health; slots, PUT and GET arrive with the attachments work.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from aiohttp import web

from ..api.middleware import json_errors


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": "upload"})


def build_upload_app(upload_directory: Path) -> web.Application:
    upload_directory.mkdir(parents=True, exist_ok=True)
    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/healthz", _health)
    return app


def server_ssl_context(certificate: Path, private_key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, private_key)
    return context
