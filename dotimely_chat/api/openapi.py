"""The OpenAPI document the API serves at /v1/openapi.json (kept next to the routes it describes)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import __version__

JSON = "application/json"


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema: str | dict[str, Any]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema
    return {"description": description, "content": {JSON: {"schema": ref}}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": 128}}


BUSINESS = _path_param("business", "the booking backend's id of the business")
PERSON = _path_param("person", "the booking backend's id of the person (the same in every business)")
AUTH = {"401": _error("missing or wrong bearer token (errcode unauthorized)")}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                               "schema": {"type": "integer", "minimum": 1}}}


def _link_down(also: str = "") -> dict[str, Any]:
    """503 of an operation that needs the XMPP link (errors.LinkUnavailable)."""
    return {"503": {**_error("the XMPP link to the server is down or stalled (errcode xmpp_unavailable)" + also
                             + "; send the same request again after Retry-After seconds (it is idempotent)"),
                    "headers": RETRY_AFTER}}
ROLE = {"type": "string", "enum": ["owner", "staff", "customer"]}

DELETION_DESCRIPTION = (
    "Removed at once: every membership of the business (so the roster entries it made, its people's room "
    "memberships and room bookmarks: nobody of it can reach anyone of it or read its rooms any more), "
    "unused upload slots, web login links and sessions, export links. Kept until archive.retention after "
    "the deletion (`kept.until`), and still answered by GET .../audit and GET .../export (use `export`): "
    "rooms and appointments, room messages with their delivered/read status, uploaded files, the audit log "
    "with a `business_deleted` entry and the room removals; at the server, the rooms and their archives "
    "and each person's own one-to-one archive. People and their XMPP accounts stay (they may belong to "
    "other businesses). Then the retention task deletes the rest (an audit entry made after the deletion, "
    "e.g. an export, keeps it until that entry expires). The id cannot be used for a new business until "
    "then (409 business_deleted).")

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["errcode", "error"], "properties": {
        "errcode": {"type": "string", "description": "stable: not_found, bad_request, unauthorized, forbidden, "
                                                     "conflict, last_owner, business_deleted, no_web_credentials, link_gone, "
                                                     "too_large, unsupported_media_type, method_not_allowed, "
                                                     "database_busy, database_unavailable, unavailable, internal"},
        "error": {"type": "string", "description": "for people; names the field when one is wrong"},
        "retry_after": {"type": "integer", "description": "a passing fault: seconds after which to retry (also "
                                                          "in the Retry-After header)"},
        "details": {"type": "object", "properties": {"field": {"type": "string"}}}}},
    "BusinessInput": {"type": "object", "required": ["name"], "additionalProperties": False,
                      "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}}},
    "Business": {"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "people": {"type": "object", "description": "number of people per role",
                   "properties": {"owner": {"type": "integer"}, "staff": {"type": "integer"},
                                  "customer": {"type": "integer"}}}}},
    "BusinessDeletion": {"type": "object", "required": ["deleted", "id", "deleted_at", "removed", "kept"],
                         "properties": {
        "deleted": {"type": "boolean"}, "id": {"type": "string"},
        "deleted_at": {"type": "string", "format": "date-time"},
        "removed": {"type": "object", "description": "rows deleted now, per kind",
                    "additionalProperties": {"type": "integer"}, "properties": {
                        k: {"type": "integer"} for k in ("memberships", "upload_slots", "web_login_tickets",
                                                        "web_sessions", "export_links")}},
        "kept": {"type": "object", "description": "what stays until `until` (null: archive.retention is never)",
                 "properties": {
                     **{k: {"type": "integer"} for k in ("appointments", "rooms", "room_messages",
                                                        "uploaded_files", "audit_entries")},
                     "until": {"type": ["string", "null"], "format": "date-time"}}},
        "export": {"type": "string", "description": "path of the export of the business's whole history"},
        "roster_synced": {"type": "boolean"}}},
    "PersonInput": {"type": "object", "required": ["role", "display_name"], "additionalProperties": False,
                    "properties": {
                        "role": ROLE,
                        "display_name": {"type": "string", "minLength": 1, "maxLength": 200},
                        "jid": {"type": "string", "description": "bare JID on this server's domain; when "
                                "absent a new account with an unguessable name is made. Cannot change later."},
                        "password": {"type": "string", "minLength": 8, "maxLength": 1024,
                                     "description": "sets the account's password; when absent for a new "
                                                    "account one is generated and returned once"},
                        "email": {"type": "string", "maxLength": 320},
                        "phone": {"type": "string", "maxLength": 64}}},
    "Person": {"type": "object", "properties": {
        "id": {"type": "string"}, "jid": {"type": "string"}, "display_name": {"type": "string"},
        "role": ROLE, "email": {"type": ["string", "null"]}, "phone": {"type": ["string", "null"]}}},
    "PutPersonResult": {"allOf": [{"$ref": "#/components/schemas/Person"}, {"type": "object", "properties": {
        "password": {"type": "string", "description": "only when generated for a new account"},
        "roster_synced": {"type": "boolean", "description": "false when a roster update could not reach the "
                          "server; the component repairs it at its next reconciliation"}}}]},
    "AppointmentInput": {"type": "object", "additionalProperties": False,
                         "required": ["customer", "staff", "starts_at", "duration_minutes", "service_name"],
                         "properties": {
                             "customer": {"type": "string", "description": "person id; a customer of the business"},
                             "staff": {"type": "string", "description": "person id; a staff member of the business"},
                             "starts_at": {"type": "string", "format": "date-time",
                                           "description": "ISO 8601 with a time zone"},
                             "duration_minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
                             "service_name": {"type": "string", "minLength": 1, "maxLength": 200}}},
    "Appointment": {"type": "object", "properties": {
        "id": {"type": "string"}, "customer": {"type": "string"}, "staff": {"type": "string"},
        "starts_at": {"type": "string", "format": "date-time"}, "duration_minutes": {"type": "integer"},
        "service_name": {"type": "string"}, "status": {"type": "string", "enum": ["booked", "cancelled"]}}},
    "StartConversation": {"type": "object", "additionalProperties": False, "required": ["initiator", "appointment"],
                          "properties": {
                              "initiator": {"type": "string", "description": "person id of who starts the chat"},
                              "appointment": {"type": "string"},
                              "audience": {"type": "string", "enum": ["everyone", "owner"],
                                           "description": "required from staff; customers and owners always "
                                                          "get 'everyone'"}}},
    "Conversation": {"type": "object", "properties": {
        "jid": {"type": "string", "description": "the room's JID"}, "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["everyone", "owner"]}, "appointment": {"type": "string"},
        "appointment_status": {"type": "string"},
        "service": {"type": "string", "description": "the appointment's service"},
        "customer_name": {"type": "string"},
        "starts_at": {"type": "string", "format": "date-time", "description": "the appointment's start"},
        "members": {"type": "array", "items": {"type": "object", "properties": {
            "jid": {"type": "string"}, "name": {"type": "string"},
            "affiliation": {"type": "string", "enum": ["admin", "member"]}}}},
        "created_at": {"type": "string", "format": "date-time"},
        "last_activity_at": {"type": "string", "format": "date-time"}}},
    "AuditEntry": {"type": "object", "properties": {
        "at": {"type": "string", "format": "date-time"}, "actor": {"type": "string"},
        "action": {"type": "string", "description": "room_created, member_added, member_removed, "
                   "affiliation_reverted, config_reverted, appointment_rescheduled, staff_reassigned, "
                   "customer_changed, appointment_cancelled"},
        "room": {"type": ["string", "null"]}, "subject": {"type": ["string", "null"]},
        "details": {"type": "object"}}},
}

SCHEMAS["Health"] = {"type": "object", "required": ["status", "xmpp", "database"], "properties": {
    "status": {"type": "string", "enum": ["ok", "unavailable"]},
    "xmpp": {"type": "object", "properties": {"connected": {"type": "boolean"}}},
    "database": {"type": "object", "properties": {
        "ok": {"type": "boolean"}, "state": {"type": "string", "enum": ["ok", "busy", "unavailable"]},
        "kind": {"type": "string"}}}}}
APPOINTMENT = _path_param("appointment", "the booking backend's id of the appointment")
CONVERSATION = _path_param("conversation", "the conversation's `id` (the room JID's local part) or the room JID")
VIEWER = {"name": "viewer", "in": "query", "schema": {"type": "string"},
          "description": "a person id: answer with what that person may see (403 otherwise); without it the "
                         "backend sees everything of its business"}
STATUS_TIME = {"type": ["string", "null"], "format": "date-time"}
SCHEMAS["MessageStatus"] = {"type": "object", "properties": {
    "conversation": {"type": "string"}, "stanza_id": {"type": "string", "description": "the room's XEP-0359 id"},
    "sender": {"type": "object", "properties": {"jid": {"type": "string"}, "name": {"type": "string"}}},
    "sent_at": {"type": "string", "format": "date-time"}, "has_attachment": {"type": "boolean"},
    "status": {"type": "string", "enum": ["sent", "delivered", "read"],
               "description": "delivered: to every other member; read: by every other member"},
    "members": {"type": "array", "items": {"type": "object", "properties": {
        "jid": {"type": "string"}, "name": {"type": "string"}, "delivered_at": STATUS_TIME,
        "delivered_via": {"type": ["string", "null"], "enum": ["online", "join", "receipt", "marker", None],
                          "description": "online: one of the member's clients was in the room when it was "
                                         "sent; join: a client of theirs entered the room later (it then gets "
                                         "what it missed); receipt: an XEP-0184 receipt; marker: an XEP-0333 "
                                         "marker for it or a later message"},
        "read_at": STATUS_TIME}}}}}
SCHEMAS["ConversationStatus"] = {"type": "object", "properties": {
    "conversation": {"type": "string"}, "jid": {"type": "string"},
    "last_message": {"type": ["object", "null"]},
    "members": {"type": "array", "items": {"type": "object", "properties": {
        "jid": {"type": "string"}, "name": {"type": "string"}, "unread": {"type": "integer"},
        "last_read": {"type": ["object", "null"], "properties": {"stanza_id": {"type": "string"},
                                                                 "sent_at": {"type": "string"}}}}}}}}
SCHEMAS["Presence"] = {"type": "object", "properties": {
    "person": {"type": "string"}, "jid": {"type": "string"}, "online": {
        "type": "boolean", "description": "any client connected, whatever its show (away, xa, dnd are online)"},
    "show": {"type": ["string", "null"], "enum": ["chat", "away", "xa", "dnd", None],
             "description": "RFC 6121 <show> of the most available client (chat and plainly available first, "
                            "then dnd, away, xa); null when plainly available or offline"},
    "last_seen_at": {**STATUS_TIME, "description": "when the last client went away"},
    "idle_since": {**STATUS_TIME, "description": "XEP-0319 idle since, of that client, when it says so; null "
                                                 "offline"},
    "status": {"type": ["string", "null"], "description": "that client's status text; null offline"}}}


EXPORT_DESCRIPTION = (
    "Streams (chunked) one record per line (JSON Lines) or one HTML transcript. Records: 'export' (business, "
    "range, requested_by), then for each room with messages in the range or created in it 'room' (room JID, "
    "name, audience, appointment id, service, start, status: cancelled rooms included) followed by its "
    "'message's (stanza_id, sent_at, sender {jid, name, role, nick}, body, attachments, status sent|delivered|"
    "read or null when not recorded, members [{jid, name, role, delivered_at, delivered_via, read_at}]), "
    "'warning' when a room's archive cannot be read, 'audit' entries of the range, and 'end' with counts: "
    "an export without 'end' broke off. Messages come from the server's MUC archive; delivery and read times "
    "from the component's records, joined by the room's stanza-id. Every export is written to the audit log.")
EXPORT_BODY = {"description": "the export, streamed", "content": {
    "application/x-ndjson": {"schema": {"type": "string"}}, "text/html": {"schema": {"type": "string"}}}}


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
        "paths": {
            "/healthz": {"get": {"security": [], "summary": "State of the XMPP link and of the database",
                                 "responses": {"200": _ok("both up", "Health"),
                                               "503": {**_ok("one of them down, or the database busy (another "
                                                             "writer holds its lock)", "Health"),
                                                       "headers": RETRY_AFTER}}}},
            "/metrics": {"get": {
                "security": [], "summary": "Prometheus metrics (public like /healthz; no names or ids in them)",
                "description": "Text exposition format 0.0.4, or OpenMetrics 1.0 when the Accept header asks for "
                               "application/openmetrics-text. dotimely_* figures: the XMPP link (up, "
                               "reconnects), the status recorder (messages, markers, lag, queue), uploads "
                               "(slots, files, bytes, refusals by stage and reason), HTTP requests by listener, "
                               "method, route template and status, back-fill runs; plus process_* and python_*.",
                "responses": {"200": {"description": "the metrics", "content": {
                    "text/plain; version=0.0.4; charset=utf-8": {"schema": {"type": "string"}},
                    "application/openmetrics-text; version=1.0.0; charset=utf-8": {"schema": {"type": "string"}},
                }}}}},
            "/v1/openapi.json": {"get": {"security": [], "summary": "This document",
                                         "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/v1/businesses": {"get": {"summary": "List businesses", "responses": {
                "200": _ok("businesses", {"type": "object", "properties": {"businesses": {
                    "type": "array", "items": {"$ref": "#/components/schemas/Business"}}}}), **AUTH}}},
            "/v1/businesses/{business}": {
                "parameters": [BUSINESS],
                "get": {"summary": "A business with its head count", "responses": {
                    "200": _ok("the business", "Business"), **AUTH, "404": _error("no such business")}},
                "put": {"summary": "Create or rename a business",
                        "requestBody": {"required": True, "content": {JSON: {"schema": {
                            "$ref": "#/components/schemas/BusinessInput"}}}},
                        "responses": {"201": _ok("created", "Business"), "200": _ok("updated", "Business"),
                                      "400": _error("bad payload or id; `details.field` names the field"),
                                      **AUTH, "409": _error("business_deleted: the id of a deleted business whose "
                                                    "records are still kept (details.kept_until); or conflict: "
                                                    "created concurrently, retry")}},
                "delete": {"summary": "Delete a business: its access goes now, its history stays until retention",
                           "description": DELETION_DESCRIPTION,
                           "responses": {"200": _ok("deleted; what went and what is kept until when",
                                                    "BusinessDeletion"), **AUTH,
                                         "404": _error("no such business, or deleted already")}}},
            "/v1/businesses/{business}/people": {
                "parameters": [BUSINESS],
                "get": {"summary": "List and search the people of a business",
                        "parameters": [
                            {"name": "q", "in": "query", "schema": {"type": "string"},
                             "description": "part of a name, e-mail or phone (any case)"},
                            {"name": "role", "in": "query", "schema": ROLE},
                            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                         "maximum": 200, "default": 50}},
                            {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0,
                                                                          "maximum": 1_000_000}}],
                        "responses": {"200": _ok("people, by name", {"type": "object", "properties": {
                            "people": {"type": "array", "items": {"$ref": "#/components/schemas/Person"}}}}),
                            "400": _error("bad parameter"), **AUTH, "404": _error("no such business")}}},
            "/v1/businesses/{business}/people/{person}": {
                "parameters": [BUSINESS, PERSON],
                "get": {"summary": "A person of a business", "responses": {
                    "200": _ok("the person", "Person"), **AUTH, "404": _error("not a person of this business")}},
                "put": {"summary": "Add a person to a business or change their role and details. Creates the "
                                   "XMPP account when missing and updates the rosters: owners have everyone of "
                                   "the business, staff and customers have the owners.",
                        "requestBody": {"required": True, "content": {JSON: {"schema": {
                            "$ref": "#/components/schemas/PersonInput"}}}},
                        "responses": {"201": _ok("added", "PutPersonResult"), "200": _ok("updated", "PutPersonResult"),
                                      "400": _error("bad payload; `details.field` names the field"), **AUTH,
                                      "404": _error("no such business"),
                                      "409": _error("the JID belongs to another person, the JID would change, "
                                                    "or the last owner would lose the role (errcode last_owner)"),
                                      **_link_down(", or the XMPP server could not create the account "
                                                   "(errcode unavailable)")}},
                "delete": {"summary": "Remove a person from a business (their roster entries of this business "
                                      "go; the account and other memberships stay)",
                           "responses": {"200": {"description": "removed"}, **AUTH,
                                         "404": _error("not a person of this business"),
                                         "409": _error("the last owner of a business (errcode last_owner)")}}},
            "/v1/businesses/{business}/people/{person}/web-login": {
                "parameters": [BUSINESS, PERSON],
                "post": {"summary": "A one-time login link to the desktop web page for this person (hand it to "
                                    "their browser): it works once, within web.login_link_lifetime seconds "
                                    "(default 60), and opens the chat logged in as the person in this business",
                         "responses": {
                             "201": _ok("the link", {"type": "object", "properties": {
                                 "url": {"type": "string", "description": "<web.public_url>/web/login?ticket=…"},
                                 "expires_at": {"type": "string", "format": "date-time"}}}),
                             **AUTH, "404": _error("not a person of this business"),
                             "409": _error("the person's XMPP password is not known to the chat service (an "
                                           "account made before the web page existed): set one with PUT "
                                           "(errcode no_web_credentials)")}}},
            "/v1/businesses/{business}/appointments/{appointment}": {
                "parameters": [BUSINESS, APPOINTMENT],
                "get": {"summary": "An appointment", "responses": {
                    "200": _ok("the appointment", "Appointment"), **AUTH, "404": _error("no such appointment")}},
                "put": {"summary": "Create or update an appointment; its rooms follow (name, members, notices)",
                        "requestBody": {"required": True, "content": {JSON: {"schema": {
                            "$ref": "#/components/schemas/AppointmentInput"}}}},
                        "responses": {"201": _ok("created", "Appointment"), "200": _ok("updated", "Appointment"),
                                      "400": _error("bad payload; `details.field` names the field"), **AUTH,
                                      "404": _error("no such business")}},
                "delete": {"summary": "Cancel an appointment; its rooms stay readable, with a notice",
                           "responses": {"200": _ok("cancelled", "Appointment"), **AUTH,
                                         "404": _error("no such appointment")}}},
            "/v1/businesses/{business}/conversations": {
                "parameters": [BUSINESS],
                "post": {"summary": "Start the chat of an appointment (or get the existing one). Customer: "
                                    "customer, staff and owners; staff: 'everyone' or 'owner'; owner: everyone.",
                         "requestBody": {"required": True, "content": {JSON: {"schema": {
                             "$ref": "#/components/schemas/StartConversation"}}}},
                         "responses": {"201": _ok("created", "Conversation"), "200": _ok("existing", "Conversation"),
                                       "400": _error("bad payload"), **AUTH,
                                       "403": _error("the initiator may not start this chat (errcode forbidden)"),
                                       "404": _error("no such business or appointment"), **_link_down()}},
                "get": {"summary": "Appointment rooms, most recent activity first",
                        "parameters": [{"name": "person", "in": "query", "schema": {"type": "string"},
                                        "description": "only the rooms this person is in"},
                                       {"name": "limit", "in": "query", "schema": {
                                           "type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
                                       {"name": "offset", "in": "query", "schema": {
                                           "type": "integer", "minimum": 0, "maximum": 1_000_000}}],
                        "responses": {"200": _ok("rooms", {"type": "object", "properties": {"conversations": {
                            "type": "array", "items": {"$ref": "#/components/schemas/Conversation"}}}}),
                            **AUTH, "404": _error("no such business or person")}}},
            "/v1/businesses/{business}/conversations/{conversation}/messages/{stanza_id}/status": {
                "parameters": [BUSINESS, CONVERSATION, {"name": "stanza_id", "in": "path", "required": True,
                                                        "schema": {"type": "string"}}],
                "get": {"summary": "Delivery and read status of one room message, per member",
                        "parameters": [VIEWER],
                        "responses": {"200": _ok("the status", "MessageStatus"), **AUTH,
                                      "403": _error("the viewer is not a member of the conversation"),
                                      "404": _error("no such conversation or message (yet)")}}},
            "/v1/businesses/{business}/conversations/{conversation}/status": {
                "parameters": [BUSINESS, CONVERSATION],
                "get": {"summary": "Per member: unread messages and the last message read",
                        "parameters": [VIEWER],
                        "responses": {"200": _ok("the summary", "ConversationStatus"), **AUTH,
                                      "403": _error("the viewer is not a member of the conversation"),
                                      "404": _error("no such conversation")}}},
            "/v1/businesses/{business}/people/{person}/presence": {
                "parameters": [BUSINESS, PERSON],
                "get": {"summary": "Online or not, last seen, idle since, status text",
                        "parameters": [VIEWER],
                        "responses": {"200": _ok("the presence", "Presence"), **AUTH,
                                      "403": _error("staff and customers see the owners' presence only"),
                                      "404": _error("not a person of this business")}}},
            "/v1/businesses/{business}/audit": {
                "parameters": [BUSINESS],
                "get": {"summary": "The audit log, oldest first (a deleted business's too, until retention)",
                        "parameters": [{"name": "limit", "in": "query", "schema": {
                            "type": "integer", "minimum": 1, "maximum": 10_000, "default": 1000}}],
                        "responses": {"200": _ok("entries", {"type": "object", "properties": {"entries": {
                            "type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}}}}),
                            **AUTH, "404": _error("no such business")}}},
            "/v1/businesses/{business}/export": {
                "parameters": [BUSINESS],
                "get": {"summary": "Export every room of the business in a range, with status and the audit log "
                                   "(a deleted business's too, until retention)",
                        "description": EXPORT_DESCRIPTION,
                        "parameters": [
                            {"name": "from", "in": "query", "description": "ISO 8601 date (UTC midnight) or "
                             "date-time with a time zone, inclusive; default: 30 days before 'to'",
                             "schema": {"type": "string"}},
                            {"name": "to", "in": "query", "description": "exclusive; a date includes that day; "
                             "default: now; at most tomorrow; the range at most 3660 days",
                             "schema": {"type": "string"}},
                            {"name": "format", "in": "query", "schema": {"type": "string",
                                                                         "enum": ["jsonl", "html"],
                                                                         "default": "jsonl"}},
                            {"name": "viewer", "in": "query", "description": "the person asking, when "
                             "the backend acts for someone: only an owner of the business gets the export",
                             "schema": {"type": "string"}}],
                        "responses": {"200": EXPORT_BODY, **AUTH,
                                      "400": _error("a bad from, to or format: the error names the parameter, "
                                                    "the value and what is allowed (details.field)"),
                                      "403": _error("the viewer is not an owner of this business"),
                                      "404": _error("no such business")}}},
            "/v1/exports/{token}": {
                "parameters": [{"name": "token", "in": "path", "required": True,
                                "description": "from the owner's ad-hoc command 'export'",
                                "schema": {"type": "string"}}],
                "get": {"summary": "Download an export through its link (no bearer token: the link is the "
                                   "credential; it works once and expires 24 hours after it was issued)",
                        "security": [],
                        "responses": {"200": EXPORT_BODY,
                                      "403": _error("the owner who asked for it no longer owns the business"),
                                      "404": _error("no such link"),
                                      "410": _error("the link was used or has expired (errcode link_gone)")}}},
        },
    }


RETRY_AFTER = {"Retry-After": {"description": "seconds after which a retry may succeed",
                               "schema": {"type": "integer", "minimum": 0}}}
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
                responses.setdefault("400", _error(PARAMETER_ERROR))
            if operation.get("security") != []:
                responses.setdefault("401", AUTH["401"])
            if "requestBody" in operation:
                for status, description in BODY_ERRORS.items():
                    responses.setdefault(status, _error(description))
            responses.setdefault("503", _error(UNAVAILABLE_ERROR))
            responses["503"].setdefault("headers", RETRY_AFTER)
    return paths


async def serve_openapi(request: web.Request) -> web.Response:
    from .context import CONTEXT

    return web.json_response(openapi_document(request.app[CONTEXT].config.http.api_public_url))
