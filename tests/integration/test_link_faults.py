"""Faults of the XEP-0114 link on the real Prosody: a silent network cut (a TCP proxy that stops forwarding
without closing), Prosody killed under room traffic. Bounded waits only; every test cleans up."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from dotimely_chat.app import ChatService
from dotimely_chat.component.muc_archive import archived_messages
from dotimely_chat.servers.prosody_process import ProsodyProcess
from dotimely_chat.storage.models import Room, RoomMessage

from ..conftest import ClientFactory, make_test_config
from .business import Api, make_business
from .stall_proxy import StallProxy
from .test_rooms import _resynced, affiliations, book, eventually, join, start
from .test_status import Member, status_of


@dataclasses.dataclass
class Proxied:
    service: ChatService
    proxy: StallProxy
    api: Api


def service_config(prosody: ProsodyProcess, tmp_path: Path, **component: Any) -> Any:
    base = prosody.config
    own = make_test_config(tmp_path / "service-state")
    return dataclasses.replace(base, state_directory=own.state_directory, http=own.http, web=own.web,
                               component=dataclasses.replace(base.component, **component))


@pytest.fixture
async def proxied(prosody_server: ProsodyProcess, tmp_path: Path) -> AsyncIterator[Proxied]:
    """The service on the session Prosody, its component link through a StallProxy, pinging every second."""
    proxy = await StallProxy("127.0.0.1", prosody_server.config.component.port).start()
    service = ChatService(service_config(prosody_server, tmp_path, port=proxy.port, ping_interval=1,
                                         ping_timeout=1))
    await service.start()
    try:
        assert await service.component.wait_connected(15), service.component.state
        async with aiohttp.ClientSession() as http:
            yield Proxied(service, proxy, Api(service, http))
    finally:
        proxy.resume()
        await service.stop()
        await proxy.close()


async def health(service: ChatService) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{service.config.http.api_public_url}/healthz") as r:
        return r.status, await r.json()


async def post_start(api: Api, biz: dict[str, Any], appointment: str) -> tuple[int, dict[str, Any], Any]:
    body = {"initiator": biz["people"]["customer0"]["id"], "appointment": appointment}
    async with api.http.post(f"{api.base}/v1/businesses/{biz['id']}/conversations", json=body,
                             headers=api.headers) as response:
        return response.status, await response.json(), response.headers


async def link_down(service: ChatService) -> bool:
    status, body = await health(service)
    return status == 503 and body["xmpp"]["connected"] is False


async def test_a_silent_cut_is_noticed_answered_503_and_a_retried_start_returns_the_same_room(
    proxied: Proxied, caplog: pytest.LogCaptureFixture,
) -> None:
    service, proxy, api = proxied.service, proxied.proxy, proxied.api
    biz = await make_business(api, customers=1, staff=1)
    appointment = await book(api, biz)
    opened: list[str] = []
    real_open, real_set = service.muc.open_room, service.muc.set_affiliation

    async def open_room(jid: str, *args: Any, **kwargs: Any) -> bool:
        opened.append(jid)
        return await real_open(jid, *args, **kwargs)

    async def cut_then_set(*args: Any, **kwargs: Any) -> None:
        proxy.stall()  # the cable is pulled right after the room was made on the server
        await real_set(*args, **kwargs)

    service.muc.open_room = open_room  # type: ignore[method-assign]
    service.muc.set_affiliation = cut_then_set  # type: ignore[method-assign]
    connections = service.component.state.connections
    with caplog.at_level(logging.WARNING, logger="dotimely_chat.component.link"):
        status, body, headers = await post_start(api, biz, appointment)
    service.muc.set_affiliation = real_set  # type: ignore[method-assign]
    assert proxy.stalled and len(opened) == 1
    assert status == 503 and body["errcode"] == "xmpp_unavailable", (status, body)
    assert int(headers["Retry-After"]) > 0
    assert any("No answer from" in record.getMessage() for record in caplog.records), "a warning is logged"
    status, state = await health(service)
    assert status == 503 and state["xmpp"]["connected"] is False and "ping" in state["xmpp"]["error"]
    assert state["xmpp"]["lost"] >= 1

    # While the link is cut, a call that needs it is answered at once, and nothing is queued for later.
    status, body, headers = await post_start(api, biz, appointment)
    assert status == 503 and body["errcode"] == "xmpp_unavailable" and "Retry-After" in headers
    assert len(opened) == 2 and opened[0] == opened[1]

    proxy.resume()
    await eventually(lambda: _resynced(service, connections + 1), 30)
    assert (await health(service))[0] == 200

    room = await start(api, biz, "customer0", appointment, expect=201)
    assert set(opened) == {room["jid"]}, "the retry opened the room the failed attempt made, not a second one"
    again = await start(api, biz, "customer0", appointment, expect=200)
    assert again["jid"] == room["jid"]
    listed = await api.call("GET", f"/v1/businesses/{biz['id']}/conversations", expect=200)
    assert [c["jid"] for c in listed["conversations"]] == [room["jid"]]
    members = {m["jid"]: m["affiliation"] for m in room["members"]}
    on_server = await affiliations(service, room["jid"])
    assert {jid: aff for jid, aff in on_server.items() if jid in members} == members
    assert set(on_server) - set(members) <= {service.config.component.jid, service.muc.observer}


async def test_what_is_said_during_a_cut_is_recorded_at_the_servers_time(
    proxied: Proxied, xmpp_clients: ClientFactory,
) -> None:
    service, proxy, api = proxied.service, proxied.proxy, proxied.api
    biz = await make_business(api, customers=1, staff=1)
    room = (await start(api, biz, "customer0", await book(api, biz)))["jid"]
    customer = biz["people"]["customer0"]
    client = await xmpp_clients.connect(customer["jid"], customer["password"], "xep_0045")
    await join(client, room, "cathy")
    speaker = Member(client, room)
    before = await speaker.say("before the cut")

    async def recorded(stanza: str) -> bool:
        return "sender" in await status_of(api, biz, room, stanza, expect=None)

    await eventually(lambda: recorded(before), 5)
    connections = service.component.state.connections
    proxy.stall()
    said = [await speaker.say("said during the cut")]  # the client talks to Prosody directly
    await eventually(lambda: link_down(service), 15)
    said.append(await speaker.say("and while the component tries again"))
    await eventually(lambda: _wait_for(proxy.accepted >= 2), 15)  # a new attempt hangs in the cut too
    await asyncio.sleep(1.5)  # the cut lasts: what reaches us late would carry a late time
    proxy.resume()
    await eventually(lambda: _resynced(service, connections + 1), 30)
    after = await speaker.say("after the cut")
    await eventually(lambda: recorded(after), 5)

    archive = {m.stanza_id: m.sent_at async for m in archived_messages(service.component, room)}
    for stanza in said:
        sent_at = dt.datetime.fromisoformat((await status_of(api, biz, room, stanza))["sent_at"])
        # the archive's stamp (whole seconds), raised at most to the time of the message before it
        assert archive[stanza] <= sent_at < archive[stanza] + dt.timedelta(seconds=1), (sent_at, archive[stanza])
    async with service.database.session() as session:
        room_id = (await session.scalars(select(Room.id).where(Room.jid == room))).one()
        ids = (await session.scalars(select(RoomMessage.stanza_id).where(RoomMessage.room_id == room_id)
                                     .order_by(RoomMessage.id))).all()
    assert [i for i in ids if i in (before, *said, after)] == [before, *said, after], "in the order said"


async def _wait_for(condition: bool) -> bool:
    return condition


async def test_prosody_killed_under_room_traffic_nothing_recorded_is_lost(
    prosody_factory: Callable[..., Awaitable[ProsodyProcess]], tmp_path: Path,
) -> None:
    prosody = await prosody_factory()
    service = ChatService(service_config(prosody, tmp_path))
    await service.start()
    clients = ClientFactory(prosody)
    talking: asyncio.Task[None] | None = None
    try:
        assert await service.component.wait_connected(15)
        async with aiohttp.ClientSession() as http:
            api = Api(service, http)
            biz = await make_business(api, customers=1, staff=1)
            room = (await start(api, biz, "customer0", await book(api, biz)))["jid"]
            customer = biz["people"]["customer0"]
            echoed: list[str] = []

            async def talk() -> None:
                client = await clients.connect(customer["jid"], customer["password"], "xep_0045")
                await join(client, room, "cathy")
                speaker = Member(client, room)
                n = 0
                while client.is_connected():
                    n += 1
                    message = client.make_message(mto=room, mbody=f"message {n}", mtype="groupchat")
                    message["id"] = uuid.uuid4().hex
                    message.send()
                    await asyncio.sleep(0.05)
                    echoed.extend(speaker.echoes.pop(key) for key in list(speaker.echoes))

            talking = asyncio.create_task(talk())
            await eventually(lambda: _wait_for(len(echoed) >= 20), 15)
            connections = service.component.state.connections
            assert prosody.process is not None
            prosody.process.send_signal(signal.SIGKILL)
            await prosody.process.wait()
            prosody.process = None
            await eventually(lambda: _wait_for(talking.done()), 15)
            await eventually(lambda: link_down(service), 15)
            await prosody.start()
            await eventually(lambda: _resynced(service, connections + 1), 30)
            talking = asyncio.create_task(talk())  # the customer comes back and talks on
            count = len(echoed)
            await eventually(lambda: _wait_for(len(echoed) >= count + 20), 15)
            talking.cancel()
            await service.recorder.flush()

            archive = [m.stanza_id async for m in archived_messages(service.component, room)
                       if m.body and m.sender_jid == customer["jid"]]  # (the component's notices are not status)

            async def all_recorded() -> bool:
                await service.recorder.flush()
                async with service.database.session() as session:
                    room_id = (await session.scalars(select(Room.id).where(Room.jid == room))).one()
                    ids = (await session.scalars(select(RoomMessage.stanza_id)
                                                 .where(RoomMessage.room_id == room_id)
                                                 .order_by(RoomMessage.id))).all()
                return list(ids) == archive

            await eventually(all_recorded, 10)  # every archived message, once, in the archive's order
            assert set(echoed) <= set(archive)
            assert service.backfill.last_report is not None and service.backfill.last_report.failed == 0
    finally:
        if talking is not None:
            talking.cancel()
        await clients.close()
        await service.stop()

