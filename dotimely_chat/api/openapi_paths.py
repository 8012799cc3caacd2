"""The operations of the OpenAPI document (`paths`): one entry per route of api/app.py."""

from __future__ import annotations

from typing import Any

from .openapi_parts import (
    APPOINTMENT,
    AUTH,
    BUSINESS,
    CONVERSATION,
    JSON,
    PERSON,
    RETRY_AFTER,
    ROLE,
    VIEWER,
    error,
    link_down,
    ok,
)

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



def paths() -> dict[str, Any]:
    """The operations by path; a new dict at each call (`complete_responses` adds to it)."""
    return {
        "/healthz": {"get": {"security": [], "summary": "State of the XMPP link and of the database",
                             "responses": {"200": ok("both up", "Health"),
                                           "503": {**ok("one of them down, or the database busy (another "
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
            "200": ok("businesses", {"type": "object", "properties": {"businesses": {
               "type": "array", "items": {"$ref": "#/components/schemas/Business"}}}}), **AUTH}}},
        "/v1/businesses/{business}": {
            "parameters": [BUSINESS],
            "get": {"summary": "A business with its head count", "responses": {
                "200": ok("the business", "Business"), **AUTH, "404": error("no such business")}},
            "put": {"summary": "Create or rename a business",
                    "requestBody": {"required": True, "content": {JSON: {"schema": {
                        "$ref": "#/components/schemas/BusinessInput"}}}},
                    "responses": {"201": ok("created", "Business"), "200": ok("updated", "Business"),
                                  "400": error("bad payload or id; `details.field` names the field"),
                                  **AUTH, "409": error("business_deleted: the id of a deleted business whose "
                                               "records are still kept (details.kept_until); or conflict: "
                                               "created concurrently, retry")}},
            "delete": {"summary": "Delete a business: its access goes now, its history stays until retention",
                       "description": DELETION_DESCRIPTION,
                       "responses": {"200": ok("deleted; what went and what is kept until when",
                                               "BusinessDeletion"), **AUTH,
                                     "404": error("no such business, or deleted already")}}},
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
                    "responses": {"200": ok("people, by name", {"type": "object", "properties": {
                       "people": {"type": "array", "items": {"$ref": "#/components/schemas/Person"}}}}),
                        "400": error("bad parameter"), **AUTH, "404": error("no such business")}}},
        "/v1/businesses/{business}/people/{person}": {
            "parameters": [BUSINESS, PERSON],
            "get": {"summary": "A person of a business", "responses": {
                "200": ok("the person", "Person"), **AUTH, "404": error("not a person of this business")}},
            "put": {"summary": "Add a person to a business or change their role and details. Creates the "
                               "XMPP account when missing and updates the rosters: owners have everyone of "
                               "the business, staff and customers have the owners.",
                    "requestBody": {"required": True, "content": {JSON: {"schema": {
                        "$ref": "#/components/schemas/PersonInput"}}}},
                    "responses": {"201": ok("added", "PutPersonResult"), "200": ok("updated", "PutPersonResult"),
                                  "400": error("bad payload; `details.field` names the field"), **AUTH,
                                  "404": error("no such business"),
                                  "409": error("the JID belongs to another person, the JID would change, "
                                               "or the last owner would lose the role (errcode last_owner)"),
                                  **link_down(", or the XMPP server could not create the account "
                                              "(errcode unavailable)")}},
            "delete": {"summary": "Remove a person from a business (their roster entries of this business "
                                  "go; the account and other memberships stay)",
                       "responses": {"200": {"description": "removed"}, **AUTH,
                                     "404": error("not a person of this business"),
                                     "409": error("the last owner of a business (errcode last_owner)")}}},
        "/v1/businesses/{business}/people/{person}/web-login": {
            "parameters": [BUSINESS, PERSON],
            "post": {"summary": "A one-time login link to the desktop web page for this person (hand it to "
                                "their browser): it works once, within web.login_link_lifetime seconds "
                                "(default 60), and opens the chat logged in as the person in this business",
                     "responses": {
                         "201": ok("the link", {"type": "object", "properties": {
                            "url": {"type": "string", "description": "<web.public_url>/web/login?ticket=…"},
                            "expires_at": {"type": "string", "format": "date-time"}}}),
                         **AUTH, "404": error("not a person of this business"),
                         "409": error("the person's XMPP password is not known to the chat service (an "
                                      "account made before the web page existed): set one with PUT "
                                      "(errcode no_web_credentials)")}}},
        "/v1/businesses/{business}/appointments/{appointment}": {
            "parameters": [BUSINESS, APPOINTMENT],
            "get": {"summary": "An appointment", "responses": {
                "200": ok("the appointment", "Appointment"), **AUTH, "404": error("no such appointment")}},
            "put": {"summary": "Create or update an appointment; its rooms follow (name, members, notices)",
                    "requestBody": {"required": True, "content": {JSON: {"schema": {
                        "$ref": "#/components/schemas/AppointmentInput"}}}},
                    "responses": {"201": ok("created", "Appointment"), "200": ok("updated", "Appointment"),
                                  "400": error("bad payload; `details.field` names the field"), **AUTH,
                                  "404": error("no such business")}},
            "delete": {"summary": "Cancel an appointment; its rooms stay readable, with a notice",
                       "responses": {"200": ok("cancelled", "Appointment"), **AUTH,
                                     "404": error("no such appointment")}}},
        "/v1/businesses/{business}/conversations": {
            "parameters": [BUSINESS],
            "post": {"summary": "Start the chat of an appointment (or get the existing one). Customer: "
                                "customer, staff and owners; staff: 'everyone' or 'owner'; owner: everyone.",
                     "requestBody": {"required": True, "content": {JSON: {"schema": {
                         "$ref": "#/components/schemas/StartConversation"}}}},
                     "responses": {"201": ok("created", "Conversation"), "200": ok("existing", "Conversation"),
                                   "400": error("bad payload"), **AUTH,
                                   "403": error("the initiator may not start this chat (errcode forbidden)"),
                                   "404": error("no such business or appointment"), **link_down()}},
            "get": {"summary": "Appointment rooms, most recent activity first",
                    "parameters": [{"name": "person", "in": "query", "schema": {"type": "string"},
                                    "description": "only the rooms this person is in"},
                                   {"name": "limit", "in": "query", "schema": {
                                       "type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
                                   {"name": "offset", "in": "query", "schema": {
                                       "type": "integer", "minimum": 0, "maximum": 1_000_000}}],
                    "responses": {"200": ok("rooms", {"type": "object", "properties": {"conversations": {
                       "type": "array", "items": {"$ref": "#/components/schemas/Conversation"}}}}),
                        **AUTH, "404": error("no such business or person")}}},
        "/v1/businesses/{business}/conversations/{conversation}/messages/{stanza_id}/status": {
            "parameters": [BUSINESS, CONVERSATION, {"name": "stanza_id", "in": "path", "required": True,
                                                    "schema": {"type": "string"}}],
            "get": {"summary": "Delivery and read status of one room message, per member",
                    "parameters": [VIEWER],
                    "responses": {"200": ok("the status", "MessageStatus"), **AUTH,
                                  "403": error("the viewer is not a member of the conversation"),
                                  "404": error("no such conversation or message (yet)")}}},
        "/v1/businesses/{business}/conversations/{conversation}/status": {
            "parameters": [BUSINESS, CONVERSATION],
            "get": {"summary": "Per member: unread messages and the last message read",
                    "parameters": [VIEWER],
                    "responses": {"200": ok("the summary", "ConversationStatus"), **AUTH,
                                  "403": error("the viewer is not a member of the conversation"),
                                  "404": error("no such conversation")}}},
        "/v1/businesses/{business}/people/{person}/presence": {
            "parameters": [BUSINESS, PERSON],
            "get": {"summary": "Online or not, last seen, idle since, status text",
                    "parameters": [VIEWER],
                    "responses": {"200": ok("the presence", "Presence"), **AUTH,
                                  "403": error("staff and customers see the owners' presence only"),
                                  "404": error("not a person of this business")}}},
        "/v1/businesses/{business}/audit": {
            "parameters": [BUSINESS],
            "get": {"summary": "The audit log, oldest first (a deleted business's too, until retention)",
                    "parameters": [{"name": "limit", "in": "query", "schema": {
                        "type": "integer", "minimum": 1, "maximum": 10_000, "default": 1000}}],
                    "responses": {"200": ok("entries", {"type": "object", "properties": {"entries": {
                       "type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}}}}),
                        **AUTH, "404": error("no such business")}}},
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
                                  "400": error("a bad from, to or format: the error names the parameter, "
                                               "the value and what is allowed (details.field)"),
                                  "403": error("the viewer is not an owner of this business"),
                                  "404": error("no such business")}}},
        "/v1/exports/{token}": {
            "parameters": [{"name": "token", "in": "path", "required": True,
                            "description": "from the owner's ad-hoc command 'export'",
                            "schema": {"type": "string"}}],
            "get": {"summary": "Download an export through its link (no bearer token: the link is the "
                               "credential; it works once and expires 24 hours after it was issued)",
                    "security": [],
                    "responses": {"200": EXPORT_BODY,
                                  "403": error("the owner who asked for it no longer owns the business"),
                                  "404": error("no such link"),
                                  "410": error("the link was used or has expired (errcode link_gone)")}}},
    }
