"""An owner's ordinary client reads everything (PRODUCT.md §5): the MAM history of every room of the business,
rooms they never joined and rooms of cancelled appointments included, paged with RSM past a few thousand
messages, and their own one-to-one history."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from slixmpp import ClientXMPP

from dotimely_chat.app import ChatService
from dotimely_chat.component.muc_archive import archived_messages
from dotimely_chat.services.ports import ArchiveError

from ..support.business import Api, make_business
from ..support.clients import ClientFactory
from ..support.rooms import book, join, start
from ..support.status import Member
from ..support.waiting import eventually

pytestmark = pytest.mark.servers("prosody", "ejabberd")


async def mam_history(client: ClientXMPP, archive: str | None, page: int = 100,
                      with_jid: str | None = None) -> list[tuple[str, str, str | None]]:
    """(result id, sender, body) of every archived message, paged with RSM the way a client does."""
    found = []
    async for message in client.plugin["xep_0313"].iterate(jid=archive, with_jid=with_jid, rsm={"max": page}):
        inner = message["mam_result"]["forwarded"]["stanza"]
        found.append((message["mam_result"]["id"], str(inner["from"]), inner["body"] or None))
    return found


async def flood(service: ChatService, room: str, count: int) -> None:
    """`count` groupchat messages from the observer over the component link (no client rate limit)."""
    await service.muc.join(room)
    component = service.component
    for n in range(count):
        component.make_message(mto=room, mfrom=service.muc.observer, mtype="groupchat",
                               mbody=f"message {n:05d}").send()
        if n % 200 == 199:
            await asyncio.sleep(0.05)  # let the stream drain


async def archived(service: ChatService, room: str) -> int:
    """How many messages the room's archive holds; -1 while the server is still busy with the flood.

    A query sent after the flood waits behind it on the component stream: ejabberd 23.01 (Mnesia MAM) took
    ≈30 s here to route and archive the 3,000 messages before answering, beyond the reader's IQ timeout."""
    try:
        return len([m async for m in archived_messages(service.component, room)])
    except ArchiveError as exc:
        if exc.condition != "remote-server-timeout":
            raise
        return -1


async def test_the_owner_pages_every_room_of_the_business_without_joining(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=2, staff=1)
    busy = await start(api, biz, "customer0", await book(api, biz))
    cancelled_appointment = await book(api, biz, customer="customer1", days=2)
    cancelled = await start(api, biz, "customer1", cancelled_appointment)
    people = {key: await xmpp_clients.connect(p["jid"], p["password"], "xep_0045")
              for key, p in biz["people"].items() if key != "owner"}

    # Real people talk in both rooms; the owner never opens either.
    await join(people["customer1"], cancelled["jid"], "cathy")
    await join(people["staff0"], cancelled["jid"], "stan")
    said = [await Member(people["staff0"], cancelled["jid"]).say("Owner: this customer cancels often")]
    await join(people["customer0"], busy["jid"], "carl")
    said.append(await Member(people["customer0"], busy["jid"]).say("See you tomorrow"))
    await api.call("DELETE", f"/v1/businesses/{biz['id']}/appointments/{cancelled_appointment}", expect=200)

    total = 3000
    await flood(chat_service, busy["jid"], total)
    await eventually(lambda: _at_least(chat_service, busy["jid"], total + 1), 90)

    owner = biz["people"]["owner"]
    client = await xmpp_clients.connect(owner["jid"], owner["password"], "xep_0313")
    history = await mam_history(client, busy["jid"], page=100)
    assert len({h[0] for h in history}) == len(history) > total, "every message once"
    assert (said[1], f"{busy['jid']}/carl", "See you tomorrow") in history
    flooded = [h[2] for h in history if (h[2] or "").startswith("message ")]
    assert flooded == [f"message {n:05d}" for n in range(total)], "in order, none lost"

    old = await mam_history(client, cancelled["jid"])
    assert (said[0], "Owner: this customer cancels often") in [(h[0], h[2]) for h in old]
    assert any("cancel" in (h[2] or "").lower() and h[1].endswith("/DoTimely") for h in old), "the notice"


async def _at_least(service: ChatService, room: str, count: int) -> bool:
    return await archived(service, room) >= count


async def test_the_owner_reads_their_own_one_to_one_history(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=1, staff=1)
    owner, customer = biz["people"]["owner"], biz["people"]["customer0"]
    olga = await xmpp_clients.connect(owner["jid"], owner["password"], "xep_0313")
    cathy = await xmpp_clients.connect(customer["jid"], customer["password"])
    received: asyncio.Queue[Any] = asyncio.Queue()
    olga.add_event_handler("message", received.put_nowait)
    for client in (olga, cathy):
        client.send_presence()
    started = dt.datetime.now(dt.UTC)
    for n in range(120):
        cathy.send_message(mto=owner["jid"], mbody=f"question {n}", mtype="chat")
    for _ in range(120):
        await asyncio.wait_for(received.get(), 10)
    olga.send_message(mto=customer["jid"], mbody="answer", mtype="chat")

    async def complete() -> bool:
        return len(await mam_history(olga, None, with_jid=customer["jid"])) >= 121

    await eventually(complete, 10)
    history = await mam_history(olga, None, page=50, with_jid=customer["jid"])
    bodies = [h[2] for h in history]
    assert bodies[:120] == [f"question {n}" for n in range(120)] and bodies[120] == "answer"
    assert all(h[1].startswith(customer["jid"]) for h in history[:120])
    assert dt.datetime.now(dt.UTC) - started < dt.timedelta(minutes=1)
