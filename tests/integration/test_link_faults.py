"""Faults of the XEP-0114 link on the real servers (Prosody and ejabberd): a silent network cut (a TCP proxy
that stops forwarding without closing), the server killed under room traffic, the component killed (SIGKILL,
a process of its own) while a customer talks. Bounded waits only; every test cleans up."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import secrets
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from dotimely_chat import app as app_module
from dotimely_chat.app import ChatService
from dotimely_chat.component.muc_archive import archived_messages
from dotimely_chat.config import load_config
from dotimely_chat.servers.ejabberd_process import EjabberdProcess
from dotimely_chat.servers.prosody_process import ProsodyProcess
from dotimely_chat.storage import Database, sqlite_url_for
from dotimely_chat.storage.models.appointments import Room
from dotimely_chat.storage.models.status import RoomMessage

from ..support.business import Api, make_business, unique
from ..support.clients import ClientFactory, clients_for
from ..support.config import make_test_config
from ..support.link import resynced
from ..support.postgres import PostgresServer
from ..support.rooms import affiliations, book, join, start
from ..support.stall_proxy import StallProxy
from ..support.status import Member, status_of
from ..support.waiting import eventually


pytestmark = pytest.mark.servers("prosody", "ejabberd")

Server = ProsodyProcess | EjabberdProcess


@dataclasses.dataclass
class Proxied:
    service: ChatService
    proxy: StallProxy
    api: Api


def service_config(server: Server, tmp_path: Path, **component: Any) -> Any:
    base = server.config
    own = make_test_config(tmp_path / "service-state")
    return dataclasses.replace(base, state_directory=own.state_directory, http=own.http, web=own.web,
                               component=dataclasses.replace(base.component, **component))


@contextlib.asynccontextmanager
async def proxied_service(server: Server, tmp_path: Path, ping_timeout: int) -> AsyncIterator[Proxied]:
    """The service on the session server, its component link through a StallProxy, pinging every second."""
    proxy = await StallProxy(server.config.xmpp.server_host, server.config.component.port).start()
    service = ChatService(service_config(server, tmp_path, port=proxy.port, ping_interval=1,
                                         ping_timeout=ping_timeout))
    service.component.handshake_timeout = 3.0
    await service.start()
    try:
        assert await service.component.wait_connected(15), service.component.state
        async with aiohttp.ClientSession() as http:
            yield Proxied(service, proxy, Api(service, http))
    finally:
        proxy.resume()
        await service.stop()
        await proxy.close()


@pytest.fixture
async def proxied(xmpp_server: Server, tmp_path: Path) -> AsyncIterator[Proxied]:
    """A cut is noticed after one second without an answer to a ping."""
    async with proxied_service(xmpp_server, tmp_path, ping_timeout=1) as proxied:
        yield proxied


@pytest.fixture
async def patient(xmpp_server: Server, tmp_path: Path) -> AsyncIterator[Proxied]:
    """A stall of a few seconds is not a lost link (ping timeout 8 s)."""
    async with proxied_service(xmpp_server, tmp_path, ping_timeout=8) as proxied:
        yield proxied


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


# Where a person's account is made: over the link (Prosody: XEP-0133), or beside it (ejabberd's admin API, which
# a cut of the component's link does not reach).
ACCOUNTS_OVER_THE_LINK = {"prosody": True, "ejabberd": False}


async def test_a_silent_cut_is_noticed_answered_503_and_a_retried_start_returns_the_same_room(
    proxied: Proxied, xmpp_clients: ClientFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    """A person added during the cut: refused with 503 where accounts go over the link (Prosody) and made at
    once where they do not (ejabberd); either way the person exists with a working account afterwards."""
    service, proxy, api = proxied.service, proxied.proxy, proxied.api
    over_the_link = ACCOUNTS_OVER_THE_LINK[service.config.xmpp.server]
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
    newcomer = f"/v1/businesses/{biz['id']}/people/{unique('late')}"
    person = {"role": "customer", "display_name": "Lena Late"}
    with caplog.at_level(logging.WARNING, logger="dotimely_chat.services.names"):
        async with api.http.put(api.base + newcomer, json=person, headers=api.headers) as response:
            answer = await response.json()
    if over_the_link:
        assert response.status == 503 and answer["errcode"] == "xmpp_unavailable", answer
        assert "Retry-After" in response.headers
    else:
        assert response.status == 201 and answer["password"], answer
        password = answer["password"]
        # its name is read back over the link: that failed at once, not after the read's timeout
        failed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Publishing the name of")]
        assert failed and "not reachable" in failed[0], failed
    # A new connection made during the cut hangs before the handshake: it is dropped and tried again.
    with caplog.at_level(logging.WARNING, logger="dotimely_chat.component.link"):
        await eventually(lambda: _wait_for(proxy.accepted >= 3), 20)
    assert any("No handshake with" in record.getMessage() for record in caplog.records)

    proxy.resume()
    await eventually(lambda: resynced(service, connections + 1), 30)
    assert (await health(service))[0] == 200

    added = await api.call("PUT", newcomer, person, expect=201 if over_the_link else 200)  # the same again
    if over_the_link:
        password = added["password"]  # done now
    assert await xmpp_clients.logs_in(added["jid"], password)
    assert await service.server.profiles.read_nick(added["jid"]) == person["display_name"]
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


# Whether the server takes a second stream of the component while the first is still open on its side:
# Prosody 0.12 refuses it (component_conflict_resolve = "kick_new": the component retries until Prosody's end of
# the old one closes); ejabberd 23.01 takes it beside the old one (servers/ejabberd_modules/
# mod_dotimely_component.erl then closes the old one).
TAKES_A_SECOND_STREAM = {"prosody": False, "ejabberd": True}


async def test_after_a_cut_the_new_stream_alone_serves_the_component_with_its_privileges(
    proxied: Proxied, xmpp_clients: ClientFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    """The network comes back while the server's end of the old stream is still open (its TCP has not given
    up). Every stanza for the component must reach the new stream, and the old one ending later must not take
    the privileges along: ejabberd routes each stanza to a random one of a domain's streams, and its
    mod_privilege forgets the component's grants when any of its streams ends."""
    service, proxy = proxied.service, proxied.proxy
    component = service.config.component.jid
    connections = service.component.state.connections
    proxy.stall()
    await eventually(lambda: link_down(service), 15)
    with caplog.at_level(logging.INFO, logger="dotimely_chat.component.link"):
        proxy.resume(keep_stalled=True)
        if not TAKES_A_SECOND_STREAM[service.config.xmpp.server]:
            await eventually(lambda: _wait_for("another component" in (service.component.state.last_error or "")),
                             20)
            proxy.drop_stalled()  # the server's end of the old stream closes at last
        await eventually(lambda: resynced(service, connections + 1), 30)
    assert not any("advertised no" in r.getMessage() for r in caplog.records), "privileges on the new stream"

    jid, password = xmpp_clients.account()
    client = await xmpp_clients.connect(jid, password)
    answers = await asyncio.gather(*(client.plugin["xep_0199"].send_ping(component, timeout=5)
                                     for _ in range(16)), return_exceptions=True)
    lost = [answer for answer in answers if isinstance(answer, BaseException)]
    assert not lost, f"{len(lost)} of {len(answers)} pings to the component went unanswered: {lost[0]!r}"

    proxy.drop_stalled()  # (ejabberd) the old stream's end closes now, if the server has not closed it
    heard: asyncio.Queue[str] = asyncio.Queue()
    service.component.add_event_handler("presence_available", lambda p: heard.put_nowait(p["from"].bare))
    other, other_password = xmpp_clients.account()  # no contact of the component: privileged presence only
    (await xmpp_clients.connect(other, other_password)).send_presence()

    async def presence_heard() -> bool:
        while not heard.empty():
            if heard.get_nowait() == other:
                return True
        return False

    await eventually(presence_heard, 10)


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
    said = [await speaker.say("said during the cut")]  # the client talks to the server directly
    await eventually(lambda: link_down(service), 15)
    said.append(await speaker.say("and while the component tries again"))
    await eventually(lambda: _wait_for(proxy.accepted >= 2), 15)  # a new attempt hangs in the cut too
    await asyncio.sleep(1.5)  # the cut lasts: what reaches us late would carry a late time
    proxy.resume()
    await eventually(lambda: resynced(service, connections + 1), 30)
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


async def test_what_reaches_the_component_late_over_a_stalled_link_gets_the_servers_time(
    patient: Proxied, xmpp_clients: ClientFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    """A stall shorter than the ping timeout: the link is kept, what was said meanwhile arrives late in a
    burst, and the late ping answer has those messages take the archive's time."""
    service, proxy, api = patient.service, patient.proxy, patient.api
    biz = await make_business(api, customers=1, staff=1)
    room = (await start(api, biz, "customer0", await book(api, biz)))["jid"]
    customer = biz["people"]["customer0"]
    client = await xmpp_clients.connect(customer["jid"], customer["password"], "xep_0045")
    await join(client, room, "cathy")
    speaker = Member(client, room)
    before = await speaker.say("before the stall")

    async def recorded(stanza: str) -> bool:
        return "sender" in await status_of(api, biz, room, stanza, expect=None)

    await eventually(lambda: recorded(before), 5)
    connections = service.component.state.connections
    with caplog.at_level(logging.WARNING, logger="dotimely_chat.component.link"):
        proxy.stall()
        said = [await speaker.say("said during the stall"), await speaker.say("and this too")]
        await asyncio.sleep(3.5)  # the stall lasts (shorter than the ping timeout): what was said waits
        proxy.resume()
        for stanza in said:
            await eventually(lambda stanza=stanza: recorded(stanza), 10)  # type: ignore[misc]
        await eventually(lambda: _wait_for(any("answered a ping after" in r.getMessage()
                                               for r in caplog.records)), 10)
    assert service.component.state.connections == connections, "a stall short of the timeout keeps the link"
    archive = {m.stanza_id: m.sent_at async for m in archived_messages(service.component, room)}

    async def server_times() -> bool:
        for stanza in said:
            sent_at = dt.datetime.fromisoformat((await status_of(api, biz, room, stanza))["sent_at"])
            if not archive[stanza] <= sent_at < archive[stanza] + dt.timedelta(seconds=1):
                return False
        return True

    await eventually(server_times, 10)


async def _wait_for(condition: bool) -> bool:
    return condition


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The service's database: SQLite in its state directory, or a PostgreSQL schema of the test's own."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    await postgres_server.require()
    schema = f"test_{secrets.token_hex(6)}"
    await postgres_server.execute(f'CREATE SCHEMA "{schema}"')
    monkeypatch.setattr(app_module, "Database", lambda _url: Database(
        postgres_server.url, connect_args={"server_settings": {"search_path": schema}}))
    try:
        yield "postgresql"
    finally:
        await postgres_server.execute(f'DROP SCHEMA "{schema}" CASCADE')


def kill(server: Server) -> None:
    """SIGKILL to the server process we started (its PID only: other beam.smp here are not ours)."""
    assert server.process is not None and server.process.returncode is None
    server.process.send_signal(signal.SIGKILL)


# Whether the server's storage has what it acknowledged when it is killed. Prosody writes its files at once.
# ejabberd 23.01 keeps mnesia's transaction log (LATEST.LOG, OTP's disk_log) in a write cache flushed every
# 2 s (or at 64 KiB): a SIGKILL loses the last writes it made, room archive included. What was written
# earlier comes back with the node.
KEEPS_ITS_LAST_WRITES = {"prosody": True, "ejabberd": False}
WRITE_CACHE_SECONDS = 2.0  # ejabberd's (disk_log's) flush interval
SEND_EVERY = 0.05  # seconds between two messages of the talking customer


async def test_the_server_killed_under_room_traffic_nothing_recorded_is_lost(
    xmpp_factory: Callable[..., Awaitable[Server]], tmp_path: Path, store: str,
) -> None:
    """The server restarted on the same state (Prosody's files, ejabberd's mnesia): the account, the room and
    its archive are back, every archived message is recorded once in the archive's order, and everything
    the customer saw echoed is recorded, also what ejabberd lost of its last writes before the kill."""
    server = await xmpp_factory()
    service = ChatService(service_config(server, tmp_path))
    assert service.database.dialect_name == store
    await service.start()
    clients = clients_for(server)
    talking: asyncio.Task[None] | None = None
    try:
        assert await service.component.wait_connected(15)
        async with aiohttp.ClientSession() as http:
            api = Api(service, http)
            biz = await make_business(api, customers=1, staff=1)
            room = (await start(api, biz, "customer0", await book(api, biz)))["jid"]
            customer = biz["people"]["customer0"]
            echoed: list[str] = []  # the room's stanza-ids of the customer's messages, as its client saw them

            async def talk() -> None:
                client = await clients.connect(customer["jid"], customer["password"], "xep_0045")
                await join(client, room, "cathy")
                speaker = Member(client, room)
                sent: set[str] = set()  # (the join's history has older messages with ids and stanza-ids)
                n = 0
                while client.is_connected():
                    n += 1
                    message = client.make_message(mto=room, mbody=f"message {n}", mtype="groupchat")
                    message["id"] = uuid.uuid4().hex
                    sent.add(message["id"])
                    message.send()
                    await asyncio.sleep(SEND_EVERY)
                    echoed.extend(speaker.echoes.pop(key) for key in list(speaker.echoes) if key in sent)

            async def recorded() -> list[str]:
                await service.recorder.flush()
                async with service.database.session() as session:
                    return list((await session.scalars(select(RoomMessage.stanza_id).join(Room)
                                                       .where(Room.jid == room).order_by(RoomMessage.id))).all())

            talking = asyncio.create_task(talk())
            # Talk longer than ejabberd's write cache holds: the account, the room and the first messages are
            # on the node's disk when it is killed (sends are SEND_EVERY apart, so this is no wall clock).
            heard = int(WRITE_CACHE_SECONDS / SEND_EVERY) + 20
            await eventually(lambda: _wait_for(len(echoed) >= heard), 30)
            connections = service.component.state.connections
            killed = server.process
            assert killed is not None
            kill(server)
            await killed.wait()
            server.process = None
            await eventually(lambda: _wait_for(talking.done()), 15)
            await eventually(lambda: link_down(service), 15)
            before_kill = await recorded()  # nothing more arrives from a dead server
            await server.start()
            await eventually(lambda: resynced(service, connections + 1), 30)
            talking = asyncio.create_task(talk())  # the customer comes back (its account is back) and talks on
            count = len(echoed)
            await eventually(lambda: _wait_for(len(echoed) >= count + 20), 15)
            talking.cancel()

            archive: list[str] = []

            async def read_archive() -> None:  # again at each look: the last messages may still be on the way
                archive[:] = [m.stanza_id async for m in archived_messages(service.component, room)
                              if m.body and m.sender_jid == customer["jid"]]  # (notices are not status)

            async def all_recorded() -> bool:
                await read_archive()
                got = await recorded()
                return [i for i in got if i in set(archive)] == archive and set(echoed) <= set(got)

            try:
                await eventually(all_recorded, 10)  # every archived message, once, in the archive's order
            except AssertionError:
                got = await recorded()
                missing = [i for i in archive if i not in got]
                raise AssertionError(f"archived {len(archive)}, recorded {len(got)} ({len(set(got))} distinct), "
                                     f"missing {[archive.index(i) for i in missing]}, echoed but not recorded "
                                     f"{len(set(echoed) - set(got))}, report {service.backfill.last_report}"
                                     ) from None
            got = await recorded()
            assert len(set(got)) == len(got), "recorded once"
            lost = [i for i in got if i not in set(archive)]  # recorded, but no longer in the server's archive
            assert lost == before_kill[len(before_kill) - len(lost):], "only the server's last writes are lost"
            if KEEPS_ITS_LAST_WRITES[server.config.xmpp.server]:
                assert lost == []
            assert before_kill[0] in archive, "the archive from before the kill is back"
            assert service.backfill.last_report is not None and service.backfill.last_report.failed == 0
    finally:
        if talking is not None:
            talking.cancel()
        await clients.close()
        await service.stop()


def _toml(document: dict[str, Any]) -> str:
    """The few value kinds of a test config (strings, integers, lists of strings) as TOML."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(item) for item in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"{key} = {value(v)}" for key, v in document.items() if not isinstance(v, dict)]
    for section, values in document.items():
        if isinstance(values, dict):
            lines += ["", f"[{section}]", *(f"{key} = {value(v)}" for key, v in values.items())]
    return "\n".join(lines) + "\n"


class ComponentProcess:
    """`dotimely-chat component` in a process of its own, to be killed like a real one."""

    def __init__(self, config_file: Path, log_file: Path) -> None:
        self.config_file, self.log_file = config_file, log_file
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_file.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "dotimely_chat", "--config", str(self.config_file), "component",
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
        self.process = None

    def log_tail(self) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-40:])


async def test_the_component_killed_while_a_customer_talks_back_fills_everything_in_order_once(
    xmpp_server: Server, xmpp_clients: ClientFactory, tmp_path: Path,
) -> None:
    base = xmpp_server.config
    own = make_test_config(tmp_path / "component-state")
    document: dict[str, Any] = {
        "state_directory": str(own.state_directory),
        "xmpp": {"domain": base.xmpp.domain, "server": base.xmpp.server, "server_host": base.xmpp.server_host,
                 "client_port": base.xmpp.client_port, "http_port": base.xmpp.http_port},
        "component": {"jid": base.component.jid, "secret": base.component.secret, "port": base.component.port},
        "muc": {"host": base.muc.host},
        "http": {"api_listen": f"{own.http.api_listen.host}:{own.http.api_listen.port}",
                 "api_public_url": own.http.api_public_url,
                 "upload_listen": f"{own.http.upload_listen.host}:{own.http.upload_listen.port}",
                 "upload_public_url": own.http.upload_public_url},
        "api": {"token": base.api.token},
        "web": {"listen": f"{own.web.listen.host}:{own.web.listen.port}", "public_url": own.web.public_url},
    }
    if base.xmpp.server == "ejabberd":  # the component finds the node's admin API from these
        document["ejabberd"] = {"node": base.ejabberd.node, "distribution_port": base.ejabberd.distribution_port,
                                "admin_api_port": base.ejabberd.admin_api_port}
    config_file = tmp_path / "config.toml"
    config_file.write_text(_toml(document))
    config = load_config(config_file)
    component = ComponentProcess(config_file, tmp_path / "component.log")
    database = Database(sqlite_url_for(config.state_directory))
    talking: asyncio.Task[None] | None = None

    async def healthy(resynchronised: int = 1) -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{config.http.api_public_url}/healthz") as r:
                body = await r.json()
        except aiohttp.ClientError:
            return False
        return r.status == 200 and body["xmpp"]["resynchronised"] and body["xmpp"]["connections"] >= 1

    try:
        await component.start()
        await eventually(healthy, 30)
        async with aiohttp.ClientSession() as http:
            api = Api(SimpleNamespace(config=config), http)  # type: ignore[arg-type]
            biz = await make_business(api, customers=1, staff=1)
            room = (await start(api, biz, "customer0", await book(api, biz)))["jid"]
        customer = biz["people"]["customer0"]
        client = await xmpp_clients.connect(customer["jid"], customer["password"], "xep_0045")
        await join(client, room, "cathy")
        speaker = Member(client, room)
        sent: list[str] = []

        async def talk() -> None:
            while True:
                message = client.make_message(mto=room, mbody=f"message {len(sent) + 1}", mtype="groupchat")
                message["id"] = uuid.uuid4().hex
                message.send()
                sent.append(message["id"])
                await asyncio.sleep(0.05)

        async def recorded() -> list[str]:
            async with database.session() as session:
                return list((await session.scalars(select(RoomMessage.stanza_id).join(Room)
                                                   .where(Room.jid == room).order_by(RoomMessage.id))).all())

        talking = asyncio.create_task(talk())
        await eventually(lambda: _wait_for(len(speaker.echoes) >= 20), 15)
        await component.kill()  # SIGKILL: no clean stop, whatever was queued in memory is gone
        heard = len(speaker.echoes)
        await eventually(lambda: _wait_for(len(speaker.echoes) >= heard + 20), 15)  # said while it is dead
        await component.start()
        await eventually(healthy, 30)
        heard = len(speaker.echoes)
        await eventually(lambda: _wait_for(len(speaker.echoes) >= heard + 20), 15)
        talking.cancel()
        await eventually(lambda: _wait_for(all(m in speaker.echoes for m in sent)), 10)
        said = [speaker.echoes[m] for m in sent]  # the room's stanza-ids, in the order the room had them

        async def complete() -> bool:
            return await recorded() == said

        try:
            await eventually(complete, 15)  # every message, once, in order
        except AssertionError:
            got = await recorded()
            first = next((n for n, (a, b) in enumerate(zip(said, got, strict=False)) if a != b), None)
            moved = [said.index(i) if i in said else None for i in got[max(0, (first or 0) - 3):(first or 0) + 8]]
            raise AssertionError(f"said {len(said)}, recorded {len(got)} ({len(set(got))} distinct), missing "
                                 f"{len(set(said) - set(got))}, first out of place at {first}: {moved}"
                                 f"\n{component.log_tail()}") from None
    finally:
        if talking is not None:
            talking.cancel()
        await component.kill()
        await database.dispose()
