"""The OpenAPI document the API serves at /v1/openapi.json (kept next to the routes it describes).

Its parts: the operations (`openapi_paths.py`), the schemas (`openapi_schemas.py`), the answers and parameters
they share (`openapi_parts.py`); here the document around them and the answers every operation may give."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import __version__
from .openapi_parts import AUTH, RETRY_AFTER, error
from .openapi_paths import paths
from .openapi_schemas import SCHEMAS


def openapi_document(public_url: str) -> dict[str, Any]:
    document = _document(public_url)
    complete_responses(document["paths"])
    return document


def _document(public_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "DoTimely chat API", "version": __version__,
                 "description": "For DoTimely's booking backend. JSON; bearer token (api.token); errors "
                                "are JSON objects with a stable `errcode` and a readable `error`. "
                                "Businesses and people are named by the backend's own ids."},
        "servers": [{"url": public_url}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": SCHEMAS},
        "paths": paths(),
    }


# Answers every operation may give, added where an operation does not describe them itself: the fuzzer
# (tests/api/test_api_fuzz.py) fails on any status the document does not list.
PARAMETER_ERROR = "a path or query parameter is refused (not XML text, out of range); `details.field` names it"
UNAVAILABLE_ERROR = ("a passing fault: the database is locked by another writer or unreachable (errcode "
                     "database_busy, database_unavailable), or the XMPP server is not reachable (unavailable); "
                     "retry after Retry-After seconds")
BODY_ERRORS = {
    "400": "bad payload: not JSON, nested too deeply, a string XML cannot carry (a control character, "
           "U+FFFE/U+FFFF, a lone surrogate) or a bad field; `details.field` names the field",
    "413": "the body is larger than 1 MiB (errcode too_large)",
    "415": "not 'Content-Type: application/json' in UTF-8 (errcode unsupported_media_type)",
}


def complete_responses(paths: dict[str, Any]) -> dict[str, Any]:
    """Add the answers every operation may give (parameter errors, auth, body errors, passing faults)."""
    for path, item in paths.items():
        for method, operation in item.items():
            if method == "parameters" or path in ("/healthz", "/v1/openapi.json"):
                continue
            responses = operation["responses"]
            has_parameters = "{" in path or operation.get("parameters")
            if has_parameters:
                responses.setdefault("400", error(PARAMETER_ERROR))
            if operation.get("security") != []:
                responses.setdefault("401", AUTH["401"])
            if "requestBody" in operation:
                for status, description in BODY_ERRORS.items():
                    responses.setdefault(status, error(description))
            responses.setdefault("503", error(UNAVAILABLE_ERROR))
            responses["503"].setdefault("headers", RETRY_AFTER)
    return paths


async def serve_openapi(request: web.Request) -> web.Response:
    from .context import CONTEXT

    return web.json_response(openapi_document(request.app[CONTEXT].config.http.api_public_url))
