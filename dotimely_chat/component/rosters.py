"""The roster gateway: reading and writing users' rosters through XEP-0356 (Prosody's mod_privilege)."""

from __future__ import annotations

from collections.abc import Callable

from slixmpp import JID
from slixmpp.exceptions import IqError

from ..policies.contacts import RosterEntry
from ..services.ports import ServerRosterItem
from .link import ChatComponent

ROSTER_TIMEOUT_SECONDS = 15.0


class RosterLinkError(RuntimeError):
    pass


class PrivilegedRosters:
    """Implements services.ports.RosterGateway on the component link."""

    def __init__(self, component: ChatComponent, on_component_item: Callable[[str], None] | None = None) -> None:
        self.component = component
        self.on_component_item = on_component_item  # called with the user's JID once we are in their roster

    async def get_roster(self, jid: str) -> dict[str, ServerRosterItem]:
        try:
            reply = await self.component.plugin["xep_0356"].get_roster(JID(jid), timeout=ROSTER_TIMEOUT_SECONDS)
        except IqError as exc:
            raise RosterLinkError(f"reading the roster of {jid} failed: {exc.condition}") from None
        items: dict[str, ServerRosterItem] = {}
        for contact, item in reply["roster"]["items"].items():
            items[str(JID(contact).bare)] = ServerRosterItem(
                name=item["name"] or "", subscription=item["subscription"] or "none",
                groups=frozenset(item["groups"] or ()))
        return items

    async def set_item(self, jid: str, entry: RosterEntry) -> None:
        # One item per IQ: Prosody's mod_privilege answers one result per item (COMPAT.md §1).
        await self._set(jid, {entry.jid: {"name": entry.name, "subscription": "both",
                                          "groups": sorted(entry.groups)}})
        if entry.jid == self.component.boundjid.bare and self.on_component_item is not None:
            self.on_component_item(jid)

    async def remove_item(self, jid: str, contact_jid: str) -> None:
        await self._set(jid, {contact_jid: {"subscription": "remove"}})

    async def _set(self, jid: str, items: dict) -> None:
        try:
            await self.component.plugin["xep_0356"].set_roster(JID(jid), items, timeout=ROSTER_TIMEOUT_SECONDS)
        except IqError as exc:
            raise RosterLinkError(f"setting the roster of {jid} failed: {exc.condition}") from None
