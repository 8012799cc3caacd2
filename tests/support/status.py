"""Delivery and read status in real rooms for the tests: members who speak and mark, a room with one person
in each role, and the status API's answers."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from slixmpp import ClientXMPP

from .business import Api, make_business
from .clients import ClientFactory
from .rooms import book, start

SID, MARKERS, HINTS = "urn:xmpp:sid:0", "urn:xmpp:chat-markers:0", "urn:xmpp:hints"


class Member:
    """A person's client in one room: says markable messages (their stanza-ids from the room's echo), marks."""

    def __init__(self, client: ClientXMPP, room: str) -> None:
        self.client, self.room = client, room
        self.echoes: dict[str, str] = {}  # our message id -> the room's stanza-id
        client.add_event_handler("groupchat_message", self._on_message)

    def _on_message(self, message: Any) -> None:
        sid = next((e.get("id") for e in message.xml.findall(f"{{{SID}}}stanza-id")
                    if e.get("by") == self.room), None)
        if sid and message["id"]:
            self.echoes[message["id"]] = sid

    async def say(self, text: str) -> str:
        """Send a markable message; return the room's stanza-id of it."""
        message = self.client.make_message(mto=self.room, mbody=text, mtype="groupchat")
        message["id"] = uuid.uuid4().hex
        origin = message.xml.makeelement(f"{{{SID}}}origin-id", {"id": message["id"]})
        message.xml.append(origin)
        message.xml.append(message.xml.makeelement(f"{{{MARKERS}}}markable", {}))
        message.send()
        deadline = time.monotonic() + 10
        while message["id"] not in self.echoes:
            assert time.monotonic() < deadline, "no echo from the room"
            await asyncio.sleep(0.02)
        return self.echoes[message["id"]]

    def mark(self, kind: str, reference: str, store: bool = True) -> str:
        """Send a marker `kind` for `reference`, with the XEP-0334 store hint Conversations adds unless told
        (Gajim and Converse send none); return the marker message's id."""
        message = self.client.make_message(mto=self.room, mtype="groupchat")
        message["id"] = uuid.uuid4().hex
        message.xml.append(message.xml.makeelement(f"{{{MARKERS}}}{kind}", {"id": reference}))
        if store:
            message.xml.append(message.xml.makeelement(f"{{{HINTS}}}store", {}))
        message.send()
        return str(message["id"])


async def room_with_people(api: Api, xmpp_clients: ClientFactory, staff: int = 1) -> tuple[dict, str, dict]:
    biz = await make_business(api, customers=1, staff=staff)
    room = await start(api, biz, "customer0", await book(api, biz))
    clients = {}
    for key in ("customer0", "staff0", "owner"):
        person = biz["people"][key]
        clients[key] = await xmpp_clients.connect(person["jid"], person["password"], "xep_0045")
    return biz, room["jid"], clients


async def status_of(api: Api, biz: dict, room: str, stanza: str, viewer: str | None = None,
                    expect: int | None = 200) -> dict[str, Any]:
    query = f"?viewer={viewer}" if viewer else ""
    return await api.call("GET", f"/v1/businesses/{biz['id']}/conversations/{room.split('@')[0]}/messages/"
                                 f"{stanza}/status{query}", expect=expect)


def by_member(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["jid"]: m for m in status["members"]}
