"""GET /healthz: the state of the XMPP link and of the database (200 when both are up, 503 otherwise).

The database check is bounded (about a second) and runs outside the connection pool: a database locked by
another writer is reported as 'busy' at once instead of after SQLite's busy timeout."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .context import CONTEXT

DATABASE_CHECK_SECONDS = 0.5


async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    health = await ctx.health.database_health(DATABASE_CHECK_SECONDS)
    database_state = health.state
    database_ok = database_state == "ok"
    link = ctx.link.state if ctx.link else None
    # link_up: on an ejabberd cluster, any node's stream serves (the home stream's state alone is not it)
    xmpp: dict[str, Any] = {"connected": bool(ctx.link and ctx.link.link_up)}
    if link:
        xmpp.update(connections=link.connections, resynchronised=link.resyncs_completed >= link.connections > 0,
                    lost=link.lost)
        if link.last_ping_rtt is not None:
            xmpp["ping_rtt_ms"] = round(link.last_ping_rtt * 1000, 1)
        if link.last_error:
            xmpp["error"] = link.last_error
    database: dict[str, Any] = {"ok": database_ok, "state": database_state, "kind": health.kind}
    if database_state == "busy":
        database["error"] = "database busy: another writer holds its lock"
    elif not database_ok:
        database["error"] = "database unavailable"
    body: dict[str, Any] = {
        "status": "ok" if database_ok and xmpp["connected"] else "unavailable",
        "xmpp": xmpp,
        "database": database,
    }
    headers = {} if body["status"] == "ok" else {"Retry-After": "2"}
    return web.json_response(body, status=200 if body["status"] == "ok" else 503, headers=headers)
