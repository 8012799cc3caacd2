"""Export records as bytes: JSON Lines for machines, one HTML transcript for people. Both stream: records
go out in chunks of about 64 KiB as they come, so memory stays flat whatever the size of the export.

In the HTML every text from a message, a name or an audit entry is escaped; links are made only of
http(s) URLs; the page loads nothing (no script, no remote style) and is served with a CSP that forbids it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from html import escape
from typing import Any

from ..policies.exports import ExportFormat

CHUNK_BYTES = 64 * 1024
CONTENT_TYPES: dict[str, str] = {"jsonl": "application/x-ndjson; charset=utf-8",
                                 "html": "text/html; charset=utf-8"}


async def render(records: AsyncIterator[dict[str, Any]], fmt: ExportFormat) -> AsyncIterator[bytes]:
    """The export in `fmt`, in chunks."""
    pieces = _jsonl(records) if fmt == "jsonl" else _html(records)
    buffer: list[str] = []
    size = 0
    async for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= CHUNK_BYTES:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode()


async def _jsonl(records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    async for record in records:
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


STYLE = """body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
h2{margin-top:2em;border-bottom:1px solid #ccc}.meta{color:#666;font-size:13px}
.msg{margin:.6em 0;padding:.3em .6em;border-left:3px solid #ddd}.msg .who{font-weight:600}
.body{white-space:pre-wrap;overflow-wrap:anywhere}.status{color:#555;font-size:12px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}
.warning{color:#a00}"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _when(iso: str | None) -> str:
    return _e(iso.replace("T", " ")[:19] + " UTC") if iso else "-"


def _link(url: str) -> str:
    if url.lower().startswith(("https://", "http://")):
        return f'<a href="{_e(url)}" rel="noreferrer noopener">{_e(url)}</a>'
    return _e(url)


def _person(p: dict[str, Any]) -> str:
    role = f" ({_e(p['role'])})" if p.get("role") else ""
    jid = f" &lt;{_e(p['jid'])}&gt;" if p.get("jid") else ""
    return f"{_e(p.get('name') or p.get('jid') or '?')}{role}{jid}"


def _status_line(record: dict[str, Any]) -> str:
    if record["status"] is None:
        return "status: not recorded"
    parts = []
    for m in record["members"]:
        delivered = f"delivered {_when(m['delivered_at'])} ({_e(m['delivered_via'])})" if m["delivered_at"] \
            else "not delivered"
        read = f"read {_when(m['read_at'])}" if m["read_at"] else "not read"
        parts.append(f"{_e(m['name'] or m['jid'] or '?')}: {delivered}, {read}")
    return f"status: {_e(record['status'])}" + ("; " + "; ".join(parts) if parts else "")


async def _html(records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    in_audit = False
    async for r in records:
        kind = r["type"]
        if kind == "export":
            yield ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   f"<title>Export of {_e(r['name'])}</title><style>{STYLE}</style></head><body>\n"
                   f"<h1>Conversations of {_e(r['name'])}</h1>\n<p class=\"meta\">Business {_e(r['business'])}, "
                   f"from {_when(r['from'])} to {_when(r['to'])}; generated {_when(r['generated_at'])} "
                   f"for {_e(r['requested_by'])}.</p>\n")
        elif kind == "room":
            a = r["appointment"]
            yield (f"<h2>{_e(r['name'])}</h2>\n<p class=\"meta\">Room {_e(r['room'])} ({_e(r['audience'])}); "
                   f"appointment {_e(a['id'])}: {_e(a['service'])} at {_when(a['starts_at'])}, "
                   f"{_e(a['status'])}</p>\n")
        elif kind == "message":
            attachments = "".join(f"<div>Attachment: {_link(u)}</div>" for u in r["attachments"])
            body = "" if r["body"] is None or r["body"].strip() in r["attachments"] else \
                f"<div class=\"body\">{_e(r['body'])}</div>"
            yield (f"<div class=\"msg\" id=\"m-{_e(r['stanza_id'])}\"><div><span class=\"who\">"
                   f"{_person(r['sender'])}</span> <span class=\"meta\">{_when(r['sent_at'])}</span></div>"
                   f"{body}{attachments}<div class=\"status\">{_status_line(r)}</div></div>\n")
        elif kind == "warning":
            yield f"<p class=\"warning\">{_e(r['room'])}: {_e(r['warning'])}</p>\n"
        elif kind == "audit":
            if not in_audit:
                in_audit = True
                yield ("<h2>Audit log</h2>\n<table><tr><th>When</th><th>Who</th><th>What</th><th>Room</th>"
                       "<th>Person</th><th>Details</th></tr>\n")
            details = json.dumps(r["details"], ensure_ascii=False, sort_keys=True) if r["details"] else ""
            yield (f"<tr><td>{_when(r['at'])}</td><td>{_e(r['actor'])}</td><td>{_e(r['action'])}</td>"
                   f"<td>{_e(r['room'])}</td><td>{_e(r['subject'])}</td><td>{_e(details)}</td></tr>\n")
        elif kind == "end":
            if in_audit:
                yield "</table>\n"
            yield (f"<p class=\"meta\">End of export: {r['rooms']} rooms, {r['messages']} messages, "
                   f"{r['audit_entries']} audit entries.</p>\n</body></html>\n")
