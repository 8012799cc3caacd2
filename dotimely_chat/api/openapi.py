"""The OpenAPI document the API serves at /v1/openapi.json (kept next to the routes it describes)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import __version__

_ERROR = {"$ref": "#/components/responses/Error"}


def openapi_document(public_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "DoTimely chat API", "version": __version__,
                 "description": "For DoTimely's booking backend. JSON; bearer token (api.token); errors "
                                "are JSON objects with a stable `errcode` and a readable `error`."},
        "servers": [{"url": public_url}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["errcode", "error"],
                          "properties": {"errcode": {"type": "string"}, "error": {"type": "string"},
                                         "details": {"type": "object"}}},
                "Business": {"type": "object", "properties": {
                    "id": {"type": "string"}, "name": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "people": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "jid": {"type": "string"},
                        "display_name": {"type": "string"},
                        "role": {"type": "string", "enum": ["owner", "staff", "customer"]}}}}}},
            },
            "responses": {"Error": {"description": "An error", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
        },
        "paths": {
            "/healthz": {"get": {"security": [], "summary": "State of the XMPP link and of the database",
                                 "responses": {"200": {"description": "both up"},
                                               "503": {"description": "one of them down"}}}},
            "/v1/businesses": {"get": {"summary": "List businesses", "responses": {
                "200": {"description": "businesses"}, "401": _ERROR}}},
            "/v1/businesses/{business}": {"get": {
                "summary": "A business and its people",
                "parameters": [{"name": "business", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the business", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Business"}}}},
                    "401": _ERROR, "404": _ERROR}}},
        },
    }


async def serve_openapi(request: web.Request) -> web.Response:
    from .context import CONTEXT

    return web.json_response(openapi_document(request.app[CONTEXT].config.http.api_public_url))
