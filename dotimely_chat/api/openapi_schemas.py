"""The schemas of the OpenAPI document (`components.schemas`): the bodies the API reads and answers."""

from __future__ import annotations

from typing import Any

from .openapi_parts import ROLE, STATUS_TIME

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
