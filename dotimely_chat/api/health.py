"""GET /healthz: the state of the XMPP link and of the database (200 when both are up, 503 otherwise)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .context import CONTEXT


async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    database_ok = await ctx.database.ping()
    link = ctx.component.state if ctx.component else None
    xmpp: dict[str, Any] = {"connected": bool(link and link.connected)}
    if link:
        xmpp.update(connections=link.connections, resynchronised=link.resyncs_completed >= link.connections > 0,
                    lost=link.lost)
        if link.last_ping_rtt is not None:
            xmpp["ping_rtt_ms"] = round(link.last_ping_rtt * 1000, 1)
        if link.last_error:
            xmpp["error"] = link.last_error
    body: dict[str, Any] = {
        "status": "ok" if database_ok and xmpp["connected"] else "unavailable",
        "xmpp": xmpp,
        "database": {"ok": database_ok, "kind": ctx.database.dialect_name},
    }
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)
