"""Requests from the observer to the rooms, and their answers: IQs, the room's answer to a join or a notice,
one room operation at a time. One place for the timeout, the link check and the error conditions."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from xml.etree.ElementTree import Element

from slixmpp import Iq
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.types import IqTypes
from slixmpp.xmlstream import StanzaBase

from ..errors import LinkUnavailable
from .link import ChatComponent
from .muc_bookmarks import error_condition
from .muc_events import RoomEvents

log = logging.getLogger(__name__)

IQ_TIMEOUT = 10.0


class MucError(RuntimeError):
    """A MUC request failed; `condition` is the XMPP error condition (e.g. 'forbidden')."""

    def __init__(self, room_jid: str, message: str, condition: str) -> None:
        super().__init__(message)
        self.room_jid = room_jid
        self.condition = condition


class MucRequests:
    def __init__(self, component: ChatComponent, events: RoomEvents, observer: str,
                 timeout: float = IQ_TIMEOUT) -> None:
        self.component, self.events, self.observer, self.timeout = component, events, observer, timeout
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def exclusive(self, room: str) -> AsyncIterator[None]:
        """One join/configure/destroy at a time per room (concurrent open_room calls are safe)."""
        lock, users = self._locks.setdefault(room, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                self._locks.pop(room, None)

    async def iq(self, room: str, itype: IqTypes, payload: Element, what: str) -> Iq:
        self.component.require_link(f"room {room}: {what}")
        iq = self.component.make_iq(ifrom=self.observer, ito=room, itype=itype)
        iq.append(payload)
        try:
            return await self.component.on_link(iq.send(timeout=self.timeout), f"room {room}: {what}")
        except IqError as exc:
            # slixmpp 1.17 on a component reads no condition from Prosody's <error> (in the stream's
            # namespace, not jabber:client) and reports 'feature-not-implemented': read it from the XML.
            condition = error_condition(exc.iq.xml)
            raise MucError(room, f"room {room}: {what} failed: {condition}", condition) from None
        except IqTimeout:
            raise LinkUnavailable(f"room {room}: {what}: no answer from the server within "
                                  f"{self.timeout:.0f} s") from None

    async def answer(self, future: asyncio.Future[StanzaBase], what: str) -> StanzaBase:
        """The room's answer to what we sent (the caller reads error replies); LinkUnavailable when the link
        is lost meanwhile or nothing comes within the timeout (our own server not answering)."""
        try:
            return await self.component.on_link(asyncio.wait_for(future, self.timeout), what)
        except TimeoutError:
            raise LinkUnavailable(f"{what}: no answer from the server within {self.timeout:.0f} s") from None

    async def notice(self, room: str, text: str) -> None:
        """A groupchat message from the observer; returns once the room has echoed it (so it is archived)."""
        self.component.require_link(f"a notice to {room}")
        message = self.component.make_message(mto=room, mfrom=self.observer, mtype="groupchat", mbody=text)
        message["id"] = f"dotimely-{uuid.uuid4().hex}"
        future = self.events.expect_echo(message["id"])
        message.send()
        reply = await self.answer(future, f"the echo of a notice to {room}")
        if reply["type"] == "error":
            condition = error_condition(reply.xml)
            raise MucError(room, f"notice to {room} refused: {condition}", condition)
        log.debug("Room %s: notice posted", room)
