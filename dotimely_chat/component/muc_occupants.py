"""Who is in each room, as far as the observer knows from the occupants' presence (the rooms are
non-anonymous: the observer sees every occupant's real full JID). Used for the status (who had a message when
it was broadcast) and the invitations (whose clients joined from the bookmark)."""

from __future__ import annotations

from collections.abc import Callable
from xml.etree.ElementTree import Element

from slixmpp import JID

ClientListener = Callable[[str, str, bool], None]  # (room, occupant's real full JID, present)


class Occupants:
    def __init__(self) -> None:
        self._occupants: dict[str, dict[str, tuple[str, str]]] = {}  # room -> nick -> (bare JID, affiliation)
        self._clients: dict[str, dict[str, str]] = {}  # room -> nick -> the occupant's real full JID
        self.client_listeners: list[ClientListener] = []

    def update(self, room: str, nick: str, gone: bool, item: Element) -> tuple[str, str] | None:
        """An occupant's presence (`gone` for unavailable) with its muc#user `<item>`: keep (bare JID,
        affiliation) per nick and tell the client listeners of an entry or an exit. Returns what was known
        of the nick before (None: a newcomer)."""
        full = item.get("jid", "")
        bare = JID(full).bare if full else ""
        occupants = self._occupants.setdefault(room, {})
        previous = occupants.pop(nick, None) if gone else occupants.get(nick)
        if not gone:
            occupants[nick] = (bare, item.get("affiliation", "none"))
        clients = self._clients.setdefault(room, {})
        if JID(full).resource:
            was = clients.pop(nick, None) if gone else clients.get(nick)
            if not gone:
                clients[nick] = full
            if (was is not None) if gone else (was != full):  # an entry or an exit, not a status change
                for client_listener in self.client_listeners:
                    client_listener(room, full, not gone)
        return previous

    def jid_of(self, room: str, nick: str) -> str:
        """The real bare JID of the occupant with that nick ('' when unknown)."""
        occupant = self._occupants.get(room, {}).get(nick)
        return occupant[0] if occupant is not None else ""

    def clients_in(self, room: str) -> set[str]:
        """The real full JIDs of the room's occupants, as far as the observer knows."""
        return set(self._clients.get(room, {}).values())

    def expect(self, room: str) -> None:
        """We are joining the room: its occupants' presence comes first."""
        self._occupants.setdefault(room, {})

    def forget(self, room: str) -> None:
        self._occupants.pop(room, None)
        self._clients.pop(room, None)

    def clear(self) -> None:
        self._occupants.clear()
        self._clients.clear()
