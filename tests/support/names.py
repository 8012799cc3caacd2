"""How a real client reads a contact's display name (the XEP-0172 nick in their PEP)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError

NS_NICK = "http://jabber.org/protocol/nick"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"


async def fetched_nick(client: ClientXMPP, jid: str) -> str | None:
    """What a client does to show a contact's name: pubsub items get of the nick node at their bare JID."""
    iq = client.make_iq_get(ito=jid)
    pubsub = ET.SubElement(iq.xml, f"{{{NS_PUBSUB}}}pubsub")
    ET.SubElement(pubsub, f"{{{NS_PUBSUB}}}items", node=NS_NICK)
    try:
        reply = await iq.send(timeout=10)
    except IqError as exc:
        if exc.condition == "item-not-found":
            return None
        raise
    nicks = [n.text for n in reply.xml.iter(f"{{{NS_NICK}}}nick")]
    assert len(nicks) <= 1, nicks
    return nicks[0] if nicks else None
