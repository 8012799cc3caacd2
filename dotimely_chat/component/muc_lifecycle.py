"""A room's life as the observer sees it: joining (creating it when missing), its owner form in the server's
dialect (`muc_config.RoomForm`), destroying it.

Protocol traps:
- Prosody 0.12 locks a new room until its owner form is submitted, even when nothing needs changing: the
  caller submits it right after the join that created the room (`always_submit`); ejabberd 23.01 does not
  lock new rooms (they start with ejabberd.yml's `default_room_options`), so there the form is submitted
  only when a field differs (the room's name always does, on creation);
- the room announces our own submission with status 104 like anyone's (both servers; ejabberd as a
  groupchat message from the room's bare JID): it is marked as ours while the IQ is in flight
  (`RoomChanges.own_configuration`).
"""

from __future__ import annotations

import logging
from xml.etree.ElementTree import Element, SubElement

from .muc_bookmarks import error_condition
from .muc_config import RoomForm, missing_essentials, offered_fields, submit_form, wanted_config, wrong_fields
from .muc_events import RoomEvents
from .muc_requests import MucError, MucRequests
from .stanzas import NS_DATA, NS_MUC, NS_OWNER, status_codes, user_x

log = logging.getLogger(__name__)

NICK_ATTEMPTS = 3


class RoomLifecycle:
    def __init__(self, requests: MucRequests, events: RoomEvents, nick: str, form: RoomForm) -> None:
        self.requests, self.events, self.nick, self.form = requests, events, nick, form
        self.component, self.observer = requests.component, requests.observer

    async def join(self, room: str) -> bool:
        """Send a join presence (no history) and wait for our own presence; True when it created the room.
        If someone holds our nickname, try 'DoTimely (2)', 'DoTimely (3)'."""
        nicks = [self.nick, *(f"{self.nick} ({n})" for n in range(2, NICK_ATTEMPTS + 1))]
        for nick in dict.fromkeys([self.events.joined.get(room, self.nick), *nicks]):
            self.component.require_link(f"joining {room}")
            future = self.events.expect_join(room)
            presence = self.component.make_presence(pfrom=self.observer, pto=f"{room}/{nick}")
            x = SubElement(presence.xml, f"{{{NS_MUC}}}x")
            SubElement(x, f"{{{NS_MUC}}}history", {"maxstanzas": "0"})
            presence.send()
            reply = await self.requests.answer(future, f"joining {room}")
            if reply["type"] == "error":
                condition = error_condition(reply.xml)
                if condition == "conflict":
                    log.warning("Room %s: nickname %r is taken", room, nick)
                    continue
                raise MucError(room, f"joining {room} failed: {condition}", condition)
            self.events.joined[room] = reply["from"].resource
            self.events.present.add(room)
            return 201 in status_codes(user_x(reply.xml))
        raise MucError(room, f"joining {room} failed: every nickname tried is taken", "conflict")

    def leave(self, room: str) -> None:
        nick = self.events.joined.get(room, self.nick)
        self.component.make_presence(pfrom=self.observer, pto=f"{room}/{nick}", ptype="unavailable").send()
        self.events.forget(room)

    async def configure(self, room: str, name: str, description: str, always_submit: bool) -> list[str]:
        """Compare the room's owner form with what we want and submit it when something differs (or
        `always_submit` on a server that locks new rooms). Returns the names of the fields that were wrong."""
        owner_query = Element(f"{{{NS_OWNER}}}query")
        reply = await self.requests.iq(room, "get", owner_query, "fetching the owner form")
        form = reply.xml.find(f"{{{NS_OWNER}}}query/{{{NS_DATA}}}x")
        if form is None:
            raise MucError(room, f"room {room} sent no configuration form", "undefined-condition")
        offered = offered_fields(form)
        if missing := missing_essentials(self.form, offered):
            log.warning("Room %s: the server (%s) offers no %s field", room, self.form.server, ", ".join(missing))
        wanted = wanted_config(self.form, name, description)
        wrong = wrong_fields(offered, wanted)
        if wrong or (always_submit and self.form.locks_new_rooms):
            query = Element(f"{{{NS_OWNER}}}query")
            query.append(submit_form(offered, wanted))
            with self.events.changes.own_configuration(room):  # our own status 104 is not reported
                await self.requests.iq(room, "set", query, "submitting the owner form")
        return wrong

    async def destroy(self, room: str, reason: str) -> None:
        query = Element(f"{{{NS_OWNER}}}query")
        destroy = SubElement(query, f"{{{NS_OWNER}}}destroy")
        if reason:
            SubElement(destroy, f"{{{NS_OWNER}}}reason").text = reason
        await self.requests.iq(room, "set", query, "destroying the room")
        self.events.forget(room)
