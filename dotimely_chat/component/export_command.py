"""Ad-hoc command `export` (XEP-0050), for owners: pick one of your businesses, a range and a format; get a
download link that works once and expires. Ownership is checked when the form is offered, again when the
link is issued, and again when it is downloaded (services/export.py)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from slixmpp import Iq
from slixmpp.exceptions import XMPPError
from slixmpp.plugins.xep_0004 import Form

from ..errors import DomainError
from ..policies.exports import DEFAULT_DAYS, EXPORT_FORMATS
from ..services.export import ExportService
from .adhoc_guard import COMMAND_TIMEOUT_SECONDS
from .link import ChatComponent

log = logging.getLogger(__name__)
NODE = "export"
Session = dict[str, Any]


def parse_export_form(payload: object, offered: set[str]) -> tuple[str, str | None, str | None, str]:
    """(business, from, to, format) of the submitted form; XMPPError bad-request for a business not
    offered or an unknown format. `from` and `to` are checked by the export service (policies/exports)."""
    values = payload["values"] if isinstance(payload, Form) else {}
    business = values.get("business")
    if not isinstance(business, str) or business not in offered:
        raise XMPPError("bad-request", "business: pick one of the businesses offered.")
    fmt = values.get("format")
    if not isinstance(fmt, str) or fmt not in EXPORT_FORMATS:
        raise XMPPError("bad-request", f"format: {str(fmt)[:40]!r} is not allowed; expected 'html' or 'jsonl'")
    bounds = [values.get(name) for name in ("from", "to")]
    raw_from, raw_to = (value[:100] if isinstance(value, str) and value.strip() else None for value in bounds)
    return business, raw_from, raw_to, fmt


def register_export(component: ChatComponent, exports: ExportService) -> None:
    async def start(iq: Iq, session: Session) -> Session:
        owned = await exports.owned_businesses(session["from"].bare)
        if not owned:
            raise XMPPError("forbidden", "Only owners of a business may export its conversations.")
        today = dt.datetime.now(dt.UTC).date()
        form = Form()
        form["type"] = "form"
        form["title"] = "Export conversations"
        form["instructions"] = ("Every room of the business in the range, with who read what and when, and the "
                                "audit log. Dates as YYYY-MM-DD (UTC); 'to' includes that day.")
        options = [{"label": name, "value": business} for business, name in owned]
        form.add_field(var="business", ftype="list-single", label="Business", required=True, options=options,
                       value=options[0]["value"])
        form.add_field(var="from", ftype="text-single", label="From (YYYY-MM-DD)",
                       value=(today - dt.timedelta(days=DEFAULT_DAYS)).isoformat())
        form.add_field(var="to", ftype="text-single", label="To (YYYY-MM-DD, included)", value=today.isoformat())
        form.add_field(var="format", ftype="list-single", label="Format", value="html",
                       options=[{"label": "HTML transcript (for people)", "value": "html"},
                                {"label": "JSON Lines (for programs)", "value": "jsonl"}])
        session.update(payload=form, next=finish, has_next=False, allow_complete=True,
                       offered={o["value"] for o in options})
        return session

    async def finish(payload: Form, session: Session) -> Session:
        business, raw_from, raw_to, fmt = parse_export_form(payload, session.get("offered", set()))
        try:
            checked = await exports.check(business, raw_from, raw_to, fmt, viewer_jid=session["from"].bare)
            link = await exports.issue_link(checked)
        except DomainError as exc:
            raise XMPPError(exc.kind.stanza_condition, exc.message) from None
        log.info("Export link of %s issued to %s (expires %s)", business, checked.actor, link.expires_at)
        result = Form()
        result["type"] = "result"
        result["title"] = "Your export is ready"
        result.add_field(var="url", ftype="text-single", label="Download link (works once)", value=link.url)
        result.add_field(var="expires", ftype="text-single", label="Expires (UTC)",
                         value=link.expires_at.strftime("%Y-%m-%d %H:%M"))
        session.update(payload=result, next=None, has_next=False, notes=[(
            "info", f"Download: {link.url} — it works once and expires {link.expires_at:%Y-%m-%d %H:%M} UTC.")])
        return session

    component.plugin["xep_0050"].add_command(node=NODE, name="Export conversations", handler=start,
                                             timeout=COMMAND_TIMEOUT_SECONDS)
