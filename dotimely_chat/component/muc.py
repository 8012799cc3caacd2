"""The component's gateway to the server's MUC service (XEP-0045) and to users' room bookmarks.

Thin on purpose: no business rule, no database. The component takes part in rooms as the *observer*
(`rooms@<component jid>`, a MUC service admin in the generated Prosody and ejabberd configs, hence an
implicit owner of every room that nobody can demote; on ejabberd the component is also the only room
creator). While it is an occupant of a non-anonymous room it hears every
affiliation and configuration change and reports them through `on_affiliation_change` and
`on_config_change` (muc_changes.py); what to do about them is the services' business. The parts:
`muc_events` (what the rooms send the observer, routed), `muc_requests` (IQs and answers), `muc_lifecycle`
(join, owner form, destroy), `muc_config` (the owner form, one table per server: `xmpp.server`), the
bookmarks (`PepBookmarks` by default: XEP-0402 through XEP-0356 privileged IQs, Prosody), `invitations`.

Protocol traps:
- Prosody 0.12 locks a new room until its owner form is submitted, even when nothing needs changing:
  `open_room` submits it right after creating it (ejabberd 23.01 does not lock rooms);
- Prosody 0.12 applies only the first item of a `muc#admin` set with several and still answers `result`:
  one item per IQ (ejabberd 23.01 applies them all; one per IQ works on both);
- a stanza bounced while the component is disconnected makes each Prosody room kick the observer (status
  333), and changes made while it is out of a room are not replayed when it rejoins: after every
  reconnection, `join` each room of `joined_rooms()` and read the affiliation lists. (ejabberd 23.01 keeps
  the observer an occupant while the component is away, no 333, and drops what the rooms send it
  meanwhile: the same rejoin and read after each reconnection covers both.)
- ejabberd 23.01 posts a groupchat message of a service admin who is no occupant (under the JID's localpart
  as nick, without an echo): `send_notice` joins first when the observer is not in the room.

slixmpp's xep_0045 plugin is not used: on a component it would advertise the MUC feature in the component's
disco#info (clients would list the component as a group chat service), and it needs `pfrom` everywhere.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from xml.etree.ElementTree import Element, SubElement

from slixmpp import JID

from ..services.ports import BookmarkStore
from ..services.status import StatusRecorder
from .invitations import Invitations
from .link import ChatComponent
from .muc_bookmarks import BookmarkError, PepBookmarks
from .muc_changes import AffiliationCallback, AffiliationChange, ConfigCallback
from .muc_config import room_form
from .muc_events import RoomEvents
from .muc_lifecycle import RoomLifecycle
from .muc_requests import IQ_TIMEOUT, MucError, MucRequests
from .stanzas import NS_ADMIN

log = logging.getLogger(__name__)

NS_CONFERENCE = "jabber:x:conference"

AFFILIATIONS = ("owner", "admin", "member", "outcast")

__all__ = ["AffiliationChange", "BookmarkError", "MucError", "MucRooms"]


class MucRooms:
    """Rooms of one MUC service, joined from `observer_jid` with nickname `nick`. The owner form's dialect
    is the one of `server` (default: the component's `xmpp.server`); `bookmarks` default to PepBookmarks
    (XEP-0402 through privileged IQs: Prosody; ejabberd 23.01 grants no IQ privilege and needs
    servers.ejabberd_pep.EjabberdBookmarks)."""

    def __init__(self, component: ChatComponent, muc_host: str, observer_jid: str, nick: str = "DoTimely", *,
                 bookmarks: BookmarkStore | None = None, server: str | None = None) -> None:
        self.component = component
        self.muc_host = JID(muc_host).domain
        self.observer = JID(observer_jid).bare
        self.nick = nick
        self.form = room_form(server or component.config.xmpp.server)
        for plugin in ("xep_0004", "xep_0060", "xep_0402"):  # data forms, pubsub and bookmark stanzas
            if plugin not in component.plugin:
                component.register_plugin(plugin)
        self._bookmarks: BookmarkStore = bookmarks if bookmarks is not None else PepBookmarks(component, IQ_TIMEOUT)
        self._events = RoomEvents(component, self.muc_host, self.observer)
        self._requests = MucRequests(component, self._events, self.observer)
        self._lifecycle = RoomLifecycle(self._requests, self._events, nick, self.form)
        # The component's JID is a direct subdomain of the users' domain (config.py checks it).
        users_domain = component.boundjid.domain.split(".", 1)[1]
        self.invitations = Invitations(component, self._events.occupants, users_domain, self._send_invitation)

    # ------------------------------------------------------------------------------------------ rooms
    async def open_room(self, room_jid: str, name: str, description: str = "") -> bool:
        """Join as the observer, creating the room if needed, and make its configuration ours.

        Returns True when this call created the room (its owner form is submitted at once, which unlocks it
        on Prosody).
        """
        room = self._room(room_jid)
        async with self._requests.exclusive(room):
            created = await self._lifecycle.join(room)
            wrong = await self._lifecycle.configure(room, name, description, always_submit=created)
        if created:
            log.info("Room %s created and configured", room)
        elif wrong:
            log.warning("Room %s: configuration corrected (%s)", room, ", ".join(wrong))
        return created

    async def ensure_config(self, room_jid: str, name: str, description: str = "") -> list[str]:
        """Compare the room's owner form with what we want; submit when something differs.

        Returns the names of the fields that were wrong (empty when everything was right).
        """
        room = self._room(room_jid)
        async with self._requests.exclusive(room):
            wrong = await self._lifecycle.configure(room, name, description, always_submit=False)
        if wrong:
            log.warning("Room %s: configuration corrected (%s)", room, ", ".join(wrong))
        return wrong

    async def join(self, room_jid: str) -> None:
        """Rejoin an existing room as the observer (after a reconnection). A missing room is not created:
        MucError 'item-not-found'."""
        room = self._room(room_jid)
        async with self._requests.exclusive(room):
            if await self._lifecycle.join(room):
                log.warning("Room %s did not exist: removing the room our join created", room)
                await self._lifecycle.destroy(room, "created by mistake")
                raise MucError(room, f"room {room} does not exist", "item-not-found")
        log.debug("Joined room %s", room)

    async def leave(self, room_jid: str) -> None:
        room = self._room(room_jid)
        self._lifecycle.leave(room)
        log.debug("Left room %s", room)

    async def destroy(self, room_jid: str) -> None:
        """Destroy a room (tests and cleanup only)."""
        room = self._room(room_jid)
        async with self._requests.exclusive(room):
            await self._lifecycle.destroy(room, "")
        log.info("Room %s destroyed", room)

    def joined_rooms(self) -> list[str]:
        """The rooms the observer is in as far as we know (to rejoin after a reconnection)."""
        return list(self._events.joined)

    # ----------------------------------------------------------------------------------- affiliations
    async def get_affiliations(self, room_jid: str) -> dict[str, str]:
        """Bare JID -> 'owner' | 'admin' | 'member' | 'outcast', from the four lists."""
        room = self._room(room_jid)

        async def one(affiliation: str) -> list[tuple[str, str]]:
            query = Element(f"{{{NS_ADMIN}}}query")
            SubElement(query, f"{{{NS_ADMIN}}}item", {"affiliation": affiliation})
            reply = await self._requests.iq(room, "get", query, f"reading the {affiliation} list")
            return [(JID(item.get("jid", "")).bare, affiliation)
                    for item in reply.xml.iter(f"{{{NS_ADMIN}}}item") if item.get("jid")]

        lists = await asyncio.gather(*(one(affiliation) for affiliation in AFFILIATIONS))
        return {jid: affiliation for pairs in lists for jid, affiliation in pairs}

    async def set_affiliation(self, room_jid: str, jid: str, affiliation: str, reason: str = "") -> None:
        """Set one JID's affiliation ('none' removes it): one item per IQ, the only form Prosody 0.12 honours
        (ejabberd 23.01 would take several)."""
        room = self._room(room_jid)
        if affiliation not in (*AFFILIATIONS, "none"):
            raise ValueError(f"unknown affiliation {affiliation!r}")
        bare = JID(jid).bare
        query = Element(f"{{{NS_ADMIN}}}query")
        item = SubElement(query, f"{{{NS_ADMIN}}}item", {"jid": bare, "affiliation": affiliation})
        if reason:
            SubElement(item, f"{{{NS_ADMIN}}}reason").text = reason
        with self._events.changes.own_affiliation_change(room, bare, affiliation):
            await self._requests.iq(room, "set", query, f"setting {bare} {affiliation}")
        log.debug("Room %s: %s set to %s", room, bare, affiliation)

    # ----------------------------------------------------------------------------------- messages
    async def send_notice(self, room_jid: str, text: str) -> None:
        """A groupchat message from the observer; returns once the room has echoed it (so it is archived).
        The observer joins first when it is not in the room on this stream: ejabberd 23.01 takes a groupchat
        message from a service admin who is no occupant, posts it under the JID's localpart as nick and
        echoes nothing (Prosody refuses it with not-acceptable: then rejoin once and resend)."""
        room = self._room(room_jid)
        if room not in self._events.present:
            await self.join(room)
        try:
            await self._requests.notice(room, text)
        except MucError as exc:
            if exc.condition != "not-acceptable":
                raise
            log.warning("Room %s refused our notice (not an occupant): rejoining", room)
            await self.join(room)
            await self._requests.notice(room, text)

    async def invite(self, room_jid: str, user_jid: str, reason: str) -> None:
        """Invite the member's clients that do not join from the bookmark just published (XEP-0249, each
        client once, after the time to autojoin: component/invitations.py)."""
        self.invitations.expect(self._room(room_jid), user_jid, reason)

    def _send_invitation(self, room: str, client_jid: str, reason: str) -> None:
        """An XEP-0249 direct invitation to one client, from the component's bare JID (which is in every
        member's roster, so mod_block_strangers lets it through)."""
        message = self.component.make_message(mto=client_jid, mfrom=self.component.boundjid.bare)
        attributes = {"jid": room, **({"reason": reason} if reason else {})}
        SubElement(message.xml, f"{{{NS_CONFERENCE}}}x", attributes)
        message.send()

    # ----------------------------------------------------------------------------------- bookmarks
    async def publish_bookmark(self, user_jid: str, room_jid: str, name: str, nick: str) -> None:
        """An autojoin bookmark of the room for the user (XEP-0402 in their PEP with PepBookmarks, item id =
        room JID). Raises BookmarkError."""
        await self._bookmarks.publish(user_jid, self._room(room_jid), name, nick)

    async def retract_bookmark(self, user_jid: str, room_jid: str) -> None:
        """Idempotent: retracting a bookmark the user does not have is fine."""
        self.invitations.forget(self._room(room_jid), user_jid)
        await self._bookmarks.retract(user_jid, self._room(room_jid))

    async def get_bookmarks(self, user_jid: str) -> dict[str, dict[str, Any]]:
        """Room JID -> {'name', 'autojoin', 'nick'} of the user's room bookmarks."""
        return await self._bookmarks.read(user_jid)

    # ----------------------------------------------------------------------------------- events
    def on_affiliation_change(self, callback: AffiliationCallback) -> None:
        """Call `callback` for every affiliation change heard in a room the observer is in, except the ones
        this object made (`set_affiliation`) and any whose actor is the observer. Callbacks run as tasks."""
        self._events.changes.affiliation_callbacks.append(callback)

    def on_config_change(self, callback: ConfigCallback) -> None:
        """Call `callback(room_jid)` when a room announces a configuration change (status 104, 170-174),
        except the submissions this object made itself."""
        self._events.changes.config_callbacks.append(callback)

    def record_status(self, recorder: StatusRecorder) -> None:
        """Hand live room messages, markers, receipts and occupancy to the status recorder."""
        self._events.status = recorder

    # ----------------------------------------------------------------------------------- internals
    def _room(self, room_jid: str) -> str:
        room = JID(room_jid)
        if not room.user or room.domain != self.muc_host or room.resource:
            raise ValueError(f"{room_jid!r} is not a room of {self.muc_host}")
        return room.bare
