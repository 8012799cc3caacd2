"""A person's display name in their own PEP, where clients look for it, written through XEP-0356.

- XEP-0172 User Nickname (node `http://jabber.org/protocol/nick`): Gajim, Conversations, Dino and
  Converse show it for a contact and for oneself instead of the JID's local part;
- vCard 4 (XEP-0292, node `urn:xmpp:vcard4`, `<fn>`): Prosody's mod_vcard_legacy also serves it as the
  vcard-temp FN that older clients (profanity's /info, Gajim's profile window) ask for.

Both nodes are published with access model `open`, so the people of a room (who are not each other's
roster contacts) can resolve a member's name too; the name is what the business shows in its rooms anyway.
If the person's client made the node first with another access model, Prosody refuses our publish-options
(precondition-not-met): we publish again without them and the node keeps its model.
"""

from __future__ import annotations

import logging
from xml.etree.ElementTree import Element, SubElement

from slixmpp import JID

from .link import ChatComponent
from .muc_bookmarks import PUBLISH_OPTIONS_FORM_TYPE, BookmarkError, send_privileged

log = logging.getLogger(__name__)

NS_NICK = "http://jabber.org/protocol/nick"
NS_VCARD4_NODE = "urn:xmpp:vcard4"
NS_VCARD4 = "urn:ietf:params:xml:ns:vcard-4.0"
ITEM_ID = "current"
IQ_TIMEOUT = 10.0


def nick_payload(name: str) -> Element:
    nick = Element(f"{{{NS_NICK}}}nick")
    nick.text = name
    return nick


def vcard_payload(name: str) -> Element:
    vcard = Element(f"{{{NS_VCARD4}}}vcard")
    SubElement(SubElement(vcard, f"{{{NS_VCARD4}}}fn"), f"{{{NS_VCARD4}}}text").text = name
    return vcard


class PepProfile:
    """Publish, read and retract a user's nickname and vCard on their behalf (services.names.ProfileGateway)."""

    def __init__(self, component: ChatComponent, timeout: float = IQ_TIMEOUT) -> None:
        self.component = component
        self.timeout = timeout

    async def publish_name(self, user_jid: str, name: str) -> None:
        user = JID(user_jid).bare
        await self._publish(user, NS_NICK, nick_payload(name))
        await self._publish(user, NS_VCARD4_NODE, vcard_payload(name))
        log.info("Name of %s published (nick, vCard)", user)

    async def read_nick(self, user_jid: str) -> str | None:
        """The published nickname, or None when there is none."""
        user = JID(user_jid).bare
        iq = self.component.make_iq_get(ifrom=user, ito=user)
        iq["pubsub"]["items"]["node"] = NS_NICK
        try:
            reply = await send_privileged(self.component, iq, f"reading the nickname of {user}", self.timeout)
        except BookmarkError as exc:
            if exc.condition == "item-not-found":
                return None
            raise
        for nick in reply.xml.iter(f"{{{NS_NICK}}}nick"):
            return nick.text or ""
        return None

    async def retract_name(self, user_jid: str) -> None:
        """Idempotent: no nickname or vCard node is fine."""
        user = JID(user_jid).bare
        for node in (NS_NICK, NS_VCARD4_NODE):
            iq = self.component.make_iq_set(ifrom=user, ito=user)
            retract = iq["pubsub"]["retract"]
            retract["node"] = node
            retract["notify"] = True
            retract["item"]["id"] = ITEM_ID
            try:
                await send_privileged(self.component, iq, f"retracting {node} of {user}", self.timeout)
            except BookmarkError as exc:
                if exc.condition != "item-not-found":
                    raise
        log.info("Name of %s retracted", user)

    async def _publish(self, user: str, node: str, payload: Element, with_options: bool = True) -> None:
        iq = self.component.make_iq_set(ifrom=user, ito=user)
        publish = iq["pubsub"]["publish"]
        publish["node"] = node
        publish["item"]["id"] = ITEM_ID
        publish["item"]["payload"] = payload
        if with_options:
            form = self.component.plugin["xep_0004"].make_form(ftype="submit")
            form.add_field(var="FORM_TYPE", ftype="hidden", value=PUBLISH_OPTIONS_FORM_TYPE)
            form.add_field(var="pubsub#access_model", value="open")
            iq["pubsub"]["publish_options"] = form
        try:
            await send_privileged(self.component, iq, f"publishing {node} for {user}", self.timeout)
        except BookmarkError as exc:
            if not with_options or exc.condition != "conflict" and "precondition-not-met" not in str(exc):
                raise
            log.info("%s of %s exists with another access model: publishing into it as it is", node, user)
            await self._publish(user, node, payload, with_options=False)
