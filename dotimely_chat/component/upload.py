"""XEP-0363 on the component: the upload service's disco info and slot requests.

Only people of a business see the service (identity store/file, the feature and the max-file-size form)
and get slots; others get `forbidden`. Prosody lists the component in its domain's disco items, being a
direct subdomain, so clients find the service by themselves. slixmpp's own xep_0363 plugin is the client
side; its server side (handle_upload_requests) must stay off or two handlers would answer.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any, cast
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from slixmpp import Iq
from slixmpp.exceptions import XMPPError
from slixmpp.plugins.xep_0004 import Form
from slixmpp.plugins.xep_0030 import DiscoInfo
from slixmpp.plugins.xep_0363.stanza import Get, Header, Put, Request, Slot
from slixmpp.xmlstream import StanzaBase, register_stanza_plugin

from ..errors import UploadError
from ..services.uploads.service import UploadService
from .link import ChatComponent

log = logging.getLogger(__name__)
NS = "urn:xmpp:http:upload:0"
SERVICE_NAME = "DoTimely attachments"


def error_reply(iq: Iq, exc: UploadError) -> Iq:
    """The XEP-0363 error: with <file-too-large><max-file-size> when that is the reason."""
    reply = iq.reply(clear=False)
    reply["type"] = "error"
    reply["error"]["type"] = exc.stanza_type
    reply["error"]["condition"] = exc.kind.stanza_condition
    reply["error"]["text"] = exc.message
    if exc.reason == "file_too_large" and exc.max_size is not None:
        too_large = ET.SubElement(reply["error"].xml, f"{{{NS}}}file-too-large")
        ET.SubElement(too_large, f"{{{NS}}}max-file-size").text = str(exc.max_size)
    return reply


def slot_result(iq_id: str, to: str, sender: str, url: str, token: str) -> str:
    """The slot's IQ result, serialised here: building it as a slixmpp stanza and letting slixmpp serialise
    it cost a fifth of the slot path's CPU (bench/uploads.py). Attribute values and the header are escaped;
    the iq takes the stream's default namespace, as slixmpp writes it."""
    header = escape(f"Bearer {token}")
    return (f"<iq type=\"result\" id={quoteattr(iq_id)} to={quoteattr(to)} from={quoteattr(sender)}>"
            f"<slot xmlns=\"{NS}\"><put url={quoteattr(url)}><header name=\"Authorization\">{header}</header>"
            f"</put><get url={quoteattr(url)}/></slot></iq>")


def upload_form(max_size: int) -> Form:
    form = Form()
    form["type"] = "result"
    form.add_field(var="FORM_TYPE", ftype="hidden", value=NS)
    form.add_field(var="max-file-size", value=str(max_size))
    return form


def register_upload(component: ChatComponent, uploads: UploadService) -> None:
    client_side = component.plugin.get("xep_0363", None)
    if client_side is not None and getattr(client_side, "handle_upload_requests", False):
        raise RuntimeError("slixmpp's xep_0363 handle_upload_requests is on: it would answer slots too")
    register_stanza_plugin(Iq, Request)
    register_stanza_plugin(Iq, Slot)
    register_stanza_plugin(Slot, Put)
    register_stanza_plugin(Slot, Get)
    register_stanza_plugin(Put, Header, iterable=True)
    register_stanza_plugin(DiscoInfo, Form, iterable=True)

    async def on_slot_request(stanza: StanzaBase) -> None:
        iq = cast(Iq, stanza)
        if iq["to"].bare != component.boundjid.bare:  # e.g. the rooms observer: not an upload service
            raise XMPPError("service-unavailable")
        request = iq["http_upload_request"]
        requester = iq["from"].bare
        try:  # the size attribute as sent: the service refuses "+16", " 16", "1_6"
            slot = await uploads.request_slot(requester, request["filename"], request.xml.get("size"),
                                              request["content-type"] or None)
        except UploadError as exc:
            error_reply(iq, exc).send()
            return
        except Exception:
            log.exception("Upload slot request from %s failed", requester)
            raise XMPPError("internal-server-error", "the upload service failed; try again") from None
        component.send_raw(slot_result(iq["id"], str(iq["from"]), str(iq["to"]), slot.url, slot.token))

    tasks: set[asyncio.Task[None]] = set()
    iq_tag, request_tag = f"{{{component.default_ns}}}iq", f"{{{NS}}}request"

    async def answer(iq: Iq) -> None:
        try:
            await on_slot_request(iq)
        except XMPPError as exc:
            iq.exception(exc)
        except Exception:  # the boundary: never the exception's text to the peer
            log.exception("Upload slot request from %s failed", iq["from"])
            iq.exception(XMPPError("internal-server-error", "the upload service failed; try again"))

    def take_slot_request(stanza: StanzaBase) -> StanzaBase | None:
        """The incoming filter: a slot request is taken (None) before slixmpp matches the stanza against
        every registered handler (a third of the component's CPU per stanza, see muc_events)."""
        xml = stanza.xml
        if xml.tag != iq_tag or xml.get("type") != "get" or xml.find(request_tag) is None:
            return stanza
        task = asyncio.create_task(answer(cast(Iq, stanza)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return None

    component.add_filter("in", take_slot_request)

    disco = component.plugin["xep_0030"]
    static_info = disco.static.get_info

    async def get_info(jid: Any, node: str | None, ifrom: Any, data: Any) -> DiscoInfo | None:
        """The component's disco info, with the upload service for people of a business only."""
        info = static_info(jid, node, ifrom, data)
        if node or ifrom is None or not str(ifrom) or info is None:
            return info
        max_size = await uploads.announced_max_size(ifrom.bare)
        if max_size is None:
            return info
        info = copy.copy(info)  # the stored info is shared by every requester
        info.add_identity("store", "file", name=SERVICE_NAME)
        info.add_feature(NS)
        info.append(upload_form(max_size))
        return info

    disco.api.register(get_info, "get_info", jid=component.boundjid)
