"""The HTTP API application: routes and middlewares."""

from __future__ import annotations

from aiohttp import web

from ..http_common.middleware import json_errors, request_limits
from . import (
    appointments,
    audit,
    businesses,
    conversations,
    export,
    health,
    openapi,
    people,
    status,
    web_login,
)
from .context import CONTEXT, ApiContext
from .metrics import serve_metrics
from .middleware import bearer_auth

MAX_BODY_BYTES = 1024 * 1024


def build_api_app(context: ApiContext) -> web.Application:
    app = web.Application(middlewares=[json_errors, bearer_auth, request_limits],
                          client_max_size=MAX_BODY_BYTES)
    app[CONTEXT] = context
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/v1/openapi.json", openapi.serve_openapi)
    app.router.add_get("/v1/businesses", businesses.list_businesses)
    app.router.add_get("/v1/businesses/{business}", businesses.get_business)
    app.router.add_put("/v1/businesses/{business}", businesses.put_business)
    app.router.add_delete("/v1/businesses/{business}", businesses.delete_business)
    app.router.add_get("/v1/businesses/{business}/people", people.list_people)
    app.router.add_get("/v1/businesses/{business}/people/{person}", people.get_person)
    app.router.add_put("/v1/businesses/{business}/people/{person}", people.put_person)
    app.router.add_delete("/v1/businesses/{business}/people/{person}", people.delete_person)
    app.router.add_post("/v1/businesses/{business}/people/{person}/web-login", web_login.issue_web_login)
    app.router.add_get("/v1/businesses/{business}/appointments/{appointment}", appointments.get_appointment)
    app.router.add_put("/v1/businesses/{business}/appointments/{appointment}", appointments.put_appointment)
    app.router.add_delete("/v1/businesses/{business}/appointments/{appointment}", appointments.cancel_appointment)
    app.router.add_get("/v1/businesses/{business}/conversations", conversations.list_conversations)
    app.router.add_post("/v1/businesses/{business}/conversations", conversations.start_conversation)
    app.router.add_get("/v1/businesses/{business}/audit", audit.list_audit)
    app.router.add_get("/v1/businesses/{business}/conversations/{conversation}/status", status.conversation_status)
    app.router.add_get("/v1/businesses/{business}/conversations/{conversation}/messages/{stanza_id}/status",
                       status.message_status)
    app.router.add_get("/v1/businesses/{business}/people/{person}/presence", status.presence)
    app.router.add_get("/v1/businesses/{business}/export", export.export_business)
    app.router.add_get("/v1/exports/{token}", export.download)
    return app
