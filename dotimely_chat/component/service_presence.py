"""The component shows as a service that is there: available presence from its JID to the people who have
it in their roster.

Answering probes (link.py) covers a client that logs in while the component is connected. It does not
cover a client that logged in while the component was away (its probe was bounced, so Gajim shows the
contact offline until something else arrives), nor a person whose roster gets the component while online
(a privileged roster set only pushes the item; FACTS.md). So:
- every available presence of a new resource of a person of a business (the privileged presence stream
  repeats every current one after each (re)connection) is answered with our presence to that resource;
- after the component's item is set in an online person's roster, our presence goes to their bare JID;
- at a clean stop, the clients told so far get our unavailable presence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from slixmpp import JID, Presence

from .link import ChatComponent

log = logging.getLogger(__name__)

IsMember = Callable[[str], Awaitable[bool]]


class ServicePresence:
    def __init__(self, component: ChatComponent, domain: str, is_member: IsMember) -> None:
        self.component = component
        self.domain = domain
        self.is_member = is_member
        self._greeted: set[str] = set()  # full JIDs told since the link came up
        self._tasks: set[asyncio.Task[None]] = set()
        component.add_event_handler("presence_available", self._on_available)
        component.add_event_handler("presence_unavailable", self._on_unavailable)
        component.add_event_handler("disconnected", lambda _: self._greeted.clear())

    def announce(self, user_jid: str) -> None:
        """Our available presence to every online resource of `user_jid` (its bare JID)."""
        self.component.send_presence(pto=JID(user_jid).bare, pfrom=self.component.boundjid.bare)

    def leave(self) -> None:
        """Before a clean stop: the clients told we are there hear that we are gone."""
        for full in sorted(self._greeted):
            self.component.send_presence(pto=full, pfrom=self.component.boundjid.bare, ptype="unavailable")
        self._greeted.clear()

    def _is_users(self, presence: Presence) -> bool:
        sender = presence["from"]
        return (sender.domain == self.domain and bool(sender.user) and bool(sender.resource)
                and presence["to"].bare == self.component.boundjid.bare)

    def _on_available(self, presence: Presence) -> None:
        if not self._is_users(presence) or presence["from"].full in self._greeted:
            return
        full = presence["from"].full
        self._greeted.add(full)
        task = asyncio.ensure_future(self._greet(full))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_unavailable(self, presence: Presence) -> None:
        if self._is_users(presence):
            self._greeted.discard(presence["from"].full)

    async def _greet(self, full_jid: str) -> None:
        try:
            if not await self.is_member(JID(full_jid).bare):
                return  # not in any business: the component is not in their roster
        except Exception:
            self._greeted.discard(full_jid)
            log.exception("Could not tell whether %s belongs to a business", full_jid)
            return
        if full_jid in self._greeted:  # still online
            self.component.send_presence(pto=full_jid, pfrom=self.component.boundjid.bare)
            log.debug("Available presence sent to %s", full_jid)
