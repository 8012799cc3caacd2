"""Hearing people's presence on ejabberd 23.01 (services.ports.PresenceSource).

Protocol trap (EJABBERD.md §1): ejabberd's privileged presence (`managed_entity`) forwards only what a client
itself sends: no unavailable when a session ends without one (stream closed, TCP abort), and nothing of the
people already online when the component connects. So the component is a roster contact of every person of a
business (`subs: both`, servers.ejabberd_rosters, the component's roster entry that policies.contacts gives
everyone anyway): ejabberd then sends it each session's presence as to a contact, with a server-made
unavailable however the session ends, and answers the component's probes with every current presence.
The link answers users' probes with our available presence (slixmpp's default `unsubscribed` would turn the
item into `from`).
"""

from __future__ import annotations

import asyncio
import logging

from ..component.link import ChatComponent
from ..services.ports import PresenceSource

log = logging.getLogger(__name__)
PROBES_PER_BATCH = 200  # then yield to the loop: thousands of people do not block the link's reads


class ContactPresence(PresenceSource):
    def __init__(self, component: ChatComponent) -> None:
        self.component = component

    async def refresh(self, jids: list[str]) -> None:
        """A probe to each person: ejabberd answers with the presence of each of their online sessions."""
        sender = self.component.boundjid.bare
        for index, jid in enumerate(jids, 1):
            self.component.send_presence(pto=jid, pfrom=sender, ptype="probe")
            if index % PROBES_PER_BATCH == 0:
                await asyncio.sleep(0)
        log.info("Presence probes sent to %d people", len(jids))
