"""The building blocks of the OpenAPI document: answers and parameters that many operations use."""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def ok(description: str, schema: str | dict[str, Any]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema
    return {"description": description, "content": {JSON: {"schema": ref}}}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": 128}}


BUSINESS = path_param("business", "the booking backend's id of the business")
PERSON = path_param("person", "the booking backend's id of the person (the same in every business)")
APPOINTMENT = path_param("appointment", "the booking backend's id of the appointment")
CONVERSATION = path_param("conversation", "the conversation's `id` (the room JID's local part) or the room JID")
VIEWER = {"name": "viewer", "in": "query", "schema": {"type": "string"},
          "description": "a person id: answer with what that person may see (403 otherwise); without it the "
                         "backend sees everything of its business"}
ROLE = {"type": "string", "enum": ["owner", "staff", "customer"]}
STATUS_TIME = {"type": ["string", "null"], "format": "date-time"}

AUTH = {"401": error("missing or wrong bearer token (errcode unauthorized)")}
RETRY_AFTER = {"Retry-After": {"description": "seconds after which a retry may succeed",
                               "schema": {"type": "integer", "minimum": 0}}}


def link_down(also: str = "") -> dict[str, Any]:
    """503 of an operation that needs the XMPP link (errors.LinkUnavailable)."""
    return {"503": {**error("the XMPP link to the server is down or stalled (errcode xmpp_unavailable)" + also
                            + "; send the same request again after Retry-After seconds (it is idempotent)"),
                    "headers": RETRY_AFTER}}
