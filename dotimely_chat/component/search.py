"""XEP-0055 search on the component: Start New → search for a person of one's businesses.

An owner finds everyone of their business; staff and customers find the owners (policies.contacts.may_find).
Results carry the business, and never cross businesses.
"""

from __future__ import annotations

import logging

from slixmpp import Iq
from slixmpp.plugins.xep_0004 import Form

from ..services.directory.search import DirectorySearch
from ..services.directory.views import SearchHit
from .link import ChatComponent

log = logging.getLogger(__name__)
SEARCH_FIELD = "search"
REPORTED = (("jid", "JID", "jid-single"), ("name", "Name", "text-single"), ("role", "Role", "text-single"),
            ("business", "Business", "text-single"))


def search_form(form: Form) -> None:
    form["type"] = "form"
    form["title"] = "Find a person"
    form["instructions"] = "Type part of a name, an e-mail address or a phone number."
    form.add_field(var=SEARCH_FIELD, ftype="text-single", label="Name, e-mail or phone")


def fill_results(form: Form, hits: list[SearchHit]) -> None:
    form["type"] = "result"
    for var, label, ftype in REPORTED:
        form.add_reported(var, ftype=ftype, label=label)
    for hit in hits:
        form.add_item({"jid": hit.person.jid, "name": hit.person.display_name, "role": hit.person.role,
                       "business": hit.business_name})


def register_search(component: ChatComponent, directory: DirectorySearch) -> None:
    plugin = component.plugin["xep_0055"]

    async def get_form(_jid: object, _node: object, _ifrom: object, iq: Iq) -> Iq:
        reply = iq.reply()
        search_form(reply["search"]["form"])
        return reply

    async def query(_jid: object, _node: object, ifrom: object, iq: Iq) -> Iq:
        values = iq["search"]["form"].get_values()
        fragment = str(values.get(SEARCH_FIELD) or "")[:200]
        hits = await directory.search_for(iq["from"].bare, fragment)
        log.info("Search by %s: %d results", iq["from"].bare, len(hits))
        reply = iq.reply()
        fill_results(reply["search"]["form"], hits)
        return reply

    plugin.api.register(get_form, "search_get_form")
    plugin.api.register(query, "search_query")
