"""Status benchmark: the observer beside the XMPP server's MUC at increasing rates, and status queries over a
million recorded messages, in one run.

1. Live (the XMPP server from the generated config — Prosody, one ejabberd node, a two-node ejabberd cluster
   on this machine, or several one after the other: --server — and the whole service on free loopback ports in
   a temp dir):
   rooms of three members (owner, staff, customer; by default 50 rooms), the customer of each room sending
   at a fixed rate and the two others receiving, at increasing offered rates, in two kinds of rooms:
     - bare: opened through the component's MUC gateway, the observer then left: the server's MUC alone;
     - ours: opened by POST /v1/businesses/{b}/conversations, the observer in the room and recording.
   The load comes from a lean generator in a child process (raw XMPP over TLS on asyncio, no stanza
   parsing: a regular expression finds the bodies), which measures delivery latency from the scheduled
   send time to the receipt at each receiving member, and, for our rooms, the time until the message's
   row is in the service's database (polled every 20 ms). A rate "keeps up" when every copy arrives,
   p99 < 200 ms and the generator holds its schedule. The saturation rate is the highest rate that keeps
   up. Also: the recorder's own capacity (synthetic room traffic fed to it directly, DB side only).
   On the cluster (--server cluster; all = Prosody, one node, the cluster) the same rooms, generator and rule,
   the service with one component stream per node, and the members placed by --layouts (bench/cluster_layout.py:
   split = a room's members on the node it runs on, crossed = the customer on the other node). Our rooms run
   on the node the component sends them through (node_links.room_node: about half on each); each trio's bare
   room is made through the admin API of the same node (the bare MUC on two nodes: the reference). CPU is
   printed for each beam.smp.
2. Queries: a fresh SQLite file and a fresh PostgreSQL schema, migrated, filled with bulk inserts
   (rooms of three members, --messages messages with their per-member status rows and marks, most of them
   read; five busy rooms hold 10 % of the messages), then StatusQueries.message_status,
   conversation_status and presence over random arguments, p50/p99, and the plans of the status SQL.

Run: .venv/bin/python bench/status.py [--messages 1000000] [--rooms 50] [--rates 250,500,...]
     [--server prosody|ejabberd|cluster|both|all] [--layouts split,crossed]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import logging
import math
import os
import random
import re
import secrets
import sqlite3
import ssl
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LATENCY_TARGET_MS = 200.0
QUERY_TARGET_MS = 10.0
MS = 1000.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (Linux /proc/stat), to see what else runs meanwhile."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_of_command(name: str) -> float:
    """CPU seconds of every running process called `name` (e.g. the PostgreSQL server's backends)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if text[text.index("(") + 1:text.rindex(")")] == name:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def process_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


async def api_call(http: Any, url: str, method: str, body: dict[str, Any],
                   retried: list[str] | None = None) -> dict[str, Any]:
    """One API call of a benchmark's setup, as a good API client makes it: a 503 with Retry-After
    (database_busy on SQLite while the setup's other writes hold its lock, xmpp_unavailable) is retried after
    the time it names. Each retry's error code is appended to `retried` when given."""
    for _ in range(10):
        async with http.request(method, url, json=body) as response:
            answer: dict[str, Any] = await response.json()
            if response.status == 503 and "Retry-After" in response.headers:
                if retried is not None:
                    retried.append(str(answer.get("errcode")))
                await asyncio.sleep(float(response.headers["Retry-After"]))
                continue
            assert response.status in (200, 201), (url, response.status, answer)
            return answer
    raise AssertionError((url, "still 503 after 10 tries"))


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# =============================================================================================
# The load generator (child process): lean XMPP clients, no stanza objects.
# =============================================================================================
BODY = re.compile(rb"<body>(\d+):(\d+):(\d+):(\d+)</body>")
SELF_PRESENCE = re.compile(rb"code=['\"]110['\"]")
ERROR_PRESENCE = re.compile(rb"<presence[^>]*type=['\"]error['\"]")


class Lean(asyncio.Protocol):
    """One client connection. Before the load: a byte buffer scanned for what we wait for. During the
    load: `feed` is called with every chunk (bodies found by regular expression)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.lost = False
        self.feed: Any = None
        self.sends: set[int] = set()  # room indices this client sends in (its own echoes)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.feed is not None:
            self.feed(self, data)
            return
        self.buf += data
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def expect(self, *needles: bytes | re.Pattern[bytes], timeout: float = 20.0) -> int:
        """Wait until one of `needles` is in the buffer; drop the buffer up to it; return its index."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = []
            for index, needle in enumerate(needles):
                if isinstance(needle, bytes):
                    pos = self.buf.find(needle)
                    if pos >= 0:
                        found.append((pos, pos + len(needle), index))
                elif (match := needle.search(self.buf)) is not None:
                    found.append((match.start(), match.end(), index))
            if found:
                _, end, index = min(found)
                del self.buf[:end]
                return index
            if self.lost:
                raise ConnectionError(f"connection closed: {bytes(self.buf[-300:])!r}")
            self.waiter = loop.create_future()
            try:
                await asyncio.wait_for(self.waiter, max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise TimeoutError(f"waited for {needles!r}; got {bytes(self.buf[-300:])!r}") from None


async def lean_login(host: str, port: int, domain: str, context: ssl.SSLContext, jid: str, password: str) -> Lean:
    loop = asyncio.get_running_loop()
    transport, conn = await loop.create_connection(Lean, host, port)
    header = (f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
              f"xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>").encode()
    conn.write(header)
    await conn.expect(b"</stream:features>")
    conn.write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await conn.expect(b"<proceed")
    conn.buf.clear()
    tls = await loop.start_tls(transport, conn, context, server_hostname=domain)
    assert tls is not None
    conn.transport = tls  # type: ignore[assignment]
    conn.write(header)
    await conn.expect(b"</stream:features>")
    token = base64.b64encode(f"\0{jid.split('@')[0]}\0{password}".encode()).decode()
    conn.write(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>".encode())
    if await conn.expect(b"<success", b"<failure") != 0:
        raise ConnectionError(f"{jid} could not log in")
    conn.buf.clear()
    conn.write(header)
    await conn.expect(b"</stream:features>")
    conn.write(b"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
               b"<resource>bench</resource></bind></iq>")
    await conn.expect(b"</iq>")
    return conn


async def lean_join(conn: Lean, room: str, nick: str) -> None:
    conn.write(f"<presence to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'>"
               f"<history maxstanzas='0'/></x></presence>".encode())
    if await conn.expect(SELF_PRESENCE, ERROR_PRESENCE) != 0:
        raise ConnectionError(f"joining {room} failed")


class Receiving:
    """What the receiving side of the current step saw."""

    def __init__(self) -> None:
        self.step = -1
        self.latencies: list[int] = []  # ns, from the scheduled send time to receipt, receiving members only
        self.echoes = 0

    def feed(self, conn: Lean, data: bytes) -> None:
        buf = conn.buf
        buf += data
        end = buf.rfind(b"</message>")
        if end < 0:
            if len(buf) > 262144:
                del buf[:-8192]
            return
        now = time.time_ns()
        step = self.step
        for match in BODY.finditer(buf, 0, end):
            if int(match.group(1)) != step:
                continue
            if int(match.group(2)) in conn.sends:
                self.echoes += 1
            else:
                self.latencies.append(now - int(match.group(4)))
        del buf[:end]


class DbPoller(threading.Thread):
    """Polls the service's SQLite file for new room messages of the current step: the time from the
    scheduled send to the row being visible (readers never block the writer in WAL mode)."""

    def __init__(self, path: str, step: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("PRAGMA busy_timeout=5000")
        self.last = self.db.execute("SELECT coalesce(max(id), 0) FROM room_messages").fetchone()[0]
        self.prefix = f"b{step}x"
        self.interval = interval
        self.lags: list[int] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            rows = self.db.execute("SELECT id, message_id FROM room_messages WHERE id > ? ORDER BY id",
                                   (self.last,)).fetchall()
            now = time.time_ns()
            for row_id, message_id in rows:
                self.last = row_id
                if message_id and message_id.startswith(self.prefix):
                    self.lags.append(now - int(message_id.rsplit("x", 1)[1]))
            self.halt.wait(self.interval)
        self.db.close()


def _ms(values_ns: list[int], missing: int) -> dict[str, float]:
    values = [v / 1e6 for v in values_ns] + [math.inf] * max(0, missing)
    return {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99), "max": max(values, default=math.nan)}


async def worker_main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    receiving = Receiving()
    conns: list[Lean] = []
    rooms: dict[str, list[str]] = {}
    senders: list[Lean] = []
    markers: list[Lean] = []  # by room index: who sends read markers there (bench/soak.py), if anyone

    def reply(payload: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(payload) + "\n")
        sys.stdout.flush()

    while line := await reader.readline():
        command = json.loads(line)
        try:
            if command["cmd"] == "setup":
                started = time.perf_counter()
                conns = await connect_all(command)
                rooms = command["rooms"]  # series -> room JIDs by room index
                senders = [conns[i] for i in command["senders"]]  # by room index
                markers = [conns[i] for i in command.get("markers", [])]
                for conn in conns:
                    conn.buf.clear()
                    conn.feed = receiving.feed
                reply({"ok": True, "seconds": time.perf_counter() - started})
            elif command["cmd"] == "step":
                reply(await run_step(command, receiving, rooms[command["series"]], senders, conns, markers))
            elif command["cmd"] == "quit":
                for conn in conns:
                    if conn.transport is not None:
                        conn.transport.write(b"</stream:stream>")
                        conn.transport.close()
                reply({"ok": True})
                return
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


async def connect_all(command: dict[str, Any]) -> list[Lean]:
    """Log every user in (16 at a time) and join their rooms."""
    context = ssl.create_default_context(cafile=command["cafile"])
    semaphore = asyncio.Semaphore(16)

    async def one(user: dict[str, Any]) -> Lean:
        async with semaphore:
            conn = await lean_login(user.get("host", command["host"]), command["port"], command["domain"], context,
                                    user["jid"], user["password"])
            for room in user["rooms"]:
                await lean_join(conn, room, user["nick"])
            conn.sends = set(user["sends"])
            return conn

    return list(await asyncio.gather(*(one(u) for u in command["users"])))


async def run_step(command: dict[str, Any], receiving: Receiving, room_jids: list[str], senders: list[Lean],
                   conns: list[Lean], markers: list[Lean] | None = None) -> dict[str, Any]:
    """Send `rate` messages/s for `seconds`; with `mark_every` N (and markers set up), every Nth message is
    followed by a `displayed` marker, from the room's marking member, for the room's previous message."""
    step, rate, seconds, drain = command["step"], float(command["rate"]), command["seconds"], command["drain"]
    mark_every = int(command.get("mark_every") or 0) if markers else 0
    previous: dict[int, str] = {}
    marked = 0
    receivers_per_room = command["receivers"]
    receiving.step, receiving.latencies, receiving.echoes = step, [], 0
    poller = DbPoller(command["db"], step) if command.get("db") else None
    if poller is not None:
        poller.start()
    total = int(rate * seconds)
    n_rooms = len(room_jids)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    interval_ns = int(1e9 / rate)
    start_ns = time.time_ns() + 50_000_000
    schedule_lags: list[int] = []
    sent = 0
    while sent < total:
        now = time.time_ns()
        due = start_ns + sent * interval_ns
        if due > now:
            await asyncio.sleep((due - now) / 1e9)
            continue
        while sent < total and start_ns + sent * interval_ns <= now:
            sched = start_ns + sent * interval_ns
            r = sent % n_rooms
            ident = f"b{step}x{r}x{sent}x{sched}"
            senders[r].write(
                f"<message to='{room_jids[r]}' type='groupchat' id='{ident}'><body>{step}:{r}:{sent}:{sched}"
                f"</body><origin-id xmlns='urn:xmpp:sid:0' id='{ident}'/>"
                f"<markable xmlns='urn:xmpp:chat-markers:0'/></message>".encode())
            schedule_lags.append(now - sched)
            if mark_every and sent % mark_every == 0 and r in previous:
                assert markers is not None
                markers[r].write(f"<message to='{room_jids[r]}' type='groupchat'><displayed "
                                 f"xmlns='urn:xmpp:chat-markers:0' id='{previous[r]}'/>"
                                 f"<store xmlns='urn:xmpp:hints'/></message>".encode())
                marked += 1
            previous[r] = ident
            sent += 1
    send_seconds = (time.time_ns() - start_ns) / 1e9
    expected = sent * receivers_per_room
    deadline = time.perf_counter() + drain
    while time.perf_counter() < deadline:
        if len(receiving.latencies) >= expected and (poller is None or len(poller.lags) >= sent):
            break
        await asyncio.sleep(0.02)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    if poller is not None:
        poller.halt.set()
        poller.join()
    delivered = len(receiving.latencies)
    result = {
        "ok": True, "step": step, "sent": sent, "send_seconds": send_seconds, "expected": expected,
        "delivered": delivered, "echoes": receiving.echoes, "latency": _ms(receiving.latencies, expected - delivered),
        "schedule_lag_p99_ms": percentile([v / 1e6 for v in schedule_lags], 0.99),
        "cpu": cpu, "wall": wall, "lost_connections": sum(c.lost for c in conns), "markers": marked,
    }
    if poller is not None:
        result["db_lag"] = _ms(poller.lags, sent - len(poller.lags))
        result["db_seen"] = len(poller.lags)
    receiving.step = -1
    return result


# =============================================================================================
# 1. Live: the XMPP server, the service, the generator.
# =============================================================================================
@dataclass
class Trio:
    index: int
    owner: dict[str, str]
    staff: dict[str, str]
    customer: dict[str, str]
    ours: str = ""
    bare: str = ""
    node: int = 0  # on a cluster: the index of the node its room of ours runs on (node_links.room_node)


@dataclass
class StepResult:
    series: str
    rate: int
    reply: dict[str, Any]
    server_cpu: float
    component_cpu: float
    others_cpu: float = 0.0
    server_rss: float = math.nan
    node_cpu: list[float] = field(default_factory=list)  # CPU seconds per server process (cluster nodes)
    recorded: int = 0
    recorded_rate: float = math.nan
    recorder_lag_p99_ms: float = math.nan
    backlog: int = 0

    @property
    def wall(self) -> float:
        return float(self.reply["wall"])

    @property
    def achieved(self) -> float:
        return self.reply["sent"] / max(self.reply["send_seconds"], 1e-9)

    @property
    def complete(self) -> bool:
        return self.reply["delivered"] >= self.reply["expected"]

    @property
    def p99(self) -> float:
        return float(self.reply["latency"]["p99"])

    @property
    def generator_share(self) -> float:
        return self.reply["cpu"] / self.wall

    @property
    def disturbed(self) -> bool:
        return self.others_cpu / self.wall > 0.25

    @property
    def keeps_up(self) -> bool:
        return self.complete and self.p99 < LATENCY_TARGET_MS and self.achieved >= 0.97 * self.rate


@dataclass
class LiveResult:
    rooms: int
    server: str = "Prosody"  # the XMPP server's name, as printed
    kind: str = "prosody"  # prosody, ejabberd, cluster (bench/harness.py)
    nodes: list[str] = field(default_factory=list)  # a cluster's nodes, by their address (StepResult.node_cpu)
    steps: list[StepResult] = field(default_factory=list)
    saturation: dict[str, int] = field(default_factory=dict)
    capacity_messages: float = math.nan
    capacity_markers: float = math.nan
    setup_seconds: float = 0.0


class Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).resolve()), "--worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 24)
        return cls(process)

    async def call(self, payload: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps(payload) + "\n").encode())
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError("the load generator exited")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise RuntimeError(f"load generator: {answer.get('error')}")
        return answer

    async def stop(self) -> None:
        if self.process.returncode is None:
            try:
                await self.call({"cmd": "quit"}, timeout=10)
            except Exception as exc:  # noqa: BLE001 - it is killed below if it does not exit
                logging.getLogger(__name__).warning("load generator did not quit cleanly: %s", exc)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def provision(service: Any, config: Any, rooms: int, node_apis: list[str] | None = None) -> list[Trio]:
    """One business per room (owner, staff, customer), an appointment and its room through the API; the bare
    rooms through the component's gateway, or with `node_apis` (a cluster) through each room's own node."""
    import aiohttp

    from dotimely_chat.component.node_links import room_node

    headers = {"Authorization": f"Bearer {config.api.token}"}
    semaphore = asyncio.Semaphore(8)
    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    trios: list[Trio] = []

    async with aiohttp.ClientSession(headers=headers) as http:
        async def call(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
            return await api_call(http, f"{config.http.api_public_url}/v1/businesses/{path}", method, body)

        async def one(i: int) -> None:
            async with semaphore:
                b = f"sb{i}"
                await call("PUT", b, {"name": f"Status Bench {i}"})
                people = {}
                for key, role in (("owner", "owner"), ("staff", "staff"), ("customer", "customer")):
                    person = await call("PUT", f"{b}/people/{key[0]}{i}", {"role": role,
                                                                           "display_name": f"{key} {i}"})
                    people[key] = {"jid": person["jid"], "password": person["password"]}
                await call("PUT", f"{b}/appointments/a{i}", {
                    "customer": f"c{i}", "staff": f"s{i}", "starts_at": (when + dt.timedelta(hours=i)).isoformat(),
                    "duration_minutes": 30, "service_name": "Haircut"})
                room = await call("POST", f"{b}/conversations", {"initiator": f"c{i}", "appointment": f"a{i}"})
                trios.append(Trio(i, people["owner"], people["staff"], people["customer"], ours=room["jid"]))
                welcome = service.rooms.welcomes.get(room["jid"])
                if welcome is not None:
                    await welcome

        await asyncio.gather(*(one(i) for i in range(rooms)))
    trios.sort(key=lambda t: t.index)
    nodes = list(config.ejabberd.cluster)
    for trio in trios:
        trio.bare = f"bare{trio.index}@{config.muc.host}"
        trio.node = nodes.index(room_node(trio.ours, nodes))
    if node_apis:
        from cluster_layout import open_bare_rooms  # bench/ is on sys.path when run as a script

        await open_bare_rooms(node_apis, config.muc.host, config.xmpp.domain, [
            (trio.bare.split("@")[0], trio.node, [(trio.owner["jid"], "admin"), (trio.staff["jid"], "member"),
                                                  (trio.customer["jid"], "member")]) for trio in trios])
        return trios
    # Bare rooms: the same MUC operations through the gateway, then the observer leaves.
    muc = service.muc
    for trio in trios:
        await muc.open_room(trio.bare, f"Bare {trio.index}")
        for person, affiliation in ((trio.owner, "admin"), (trio.staff, "member"), (trio.customer, "member")):
            await muc.set_affiliation(trio.bare, person["jid"], affiliation)
        await muc.leave(trio.bare)
    return trios


async def live(args: argparse.Namespace, kind: str, layout: str = "split") -> LiveResult:
    """One server's sweep; `layout` (bench/cluster_layout.py) places the members on a cluster's nodes."""
    from cluster_layout import member_node  # bench/ is on sys.path when run as a script
    from harness import CLUSTER, running_service

    result = LiveResult(rooms=args.rooms, kind=kind)
    async with running_service(kind) as (config, server, service):
        result.server = server.name + (f", {layout}" if kind == CLUSTER else "")
        hosts = server.hosts
        if len(hosts) > 1:
            result.nodes = hosts
        worker: Worker | None = None
        try:
            started = time.perf_counter()
            trios = await provision(service, config, args.rooms, server.api_urls if len(hosts) > 1 else None)
            worker = await Worker.start()
            users: list[dict[str, Any]] = []
            senders: list[int] = []
            for trio in trios:
                for key in ("owner", "staff", "customer"):
                    person = getattr(trio, key)
                    if key == "customer":
                        senders.append(len(users))
                    users.append({"jid": person["jid"], "password": person["password"], "nick": key,
                                  "host": hosts[member_node(layout, trio.node, key, len(hosts))],
                                  "rooms": [trio.bare, trio.ours], "sends": [trio.index] if key == "customer" else []})
            await worker.call({"cmd": "setup", "host": hosts[0], "port": config.xmpp.client_port,
                               "domain": config.xmpp.domain, "cafile": str(server.cafile),
                               "users": users, "senders": senders,
                               "rooms": {"bare": [t.bare for t in trios], "ours": [t.ours for t in trios]}})
            result.setup_seconds = time.perf_counter() - started
            print(f"{result.server}: set up {args.rooms} rooms of each kind and {len(users)} clients in "
                  f"{result.setup_seconds:.1f} s", flush=True)
            database_file = str((config.state_directory / "dotimely.db").resolve())
            await sweep(args, service, worker, server.pids, database_file, result)
            await recorder_capacity(service, trios, args.capacity_messages, result)
        finally:
            if worker is not None:
                await worker.stop()
    return result


async def sweep(args: argparse.Namespace, service: Any, worker: Worker, server_pid: int | list[int],
                database_file: str, result: LiveResult) -> None:
    """The rates in turn for both kinds of rooms; then, if our rooms stopped below the server's own saturation
    rate, one step of our rooms at that rate: the recording rate and status lag at that load."""
    step_id = await sweep_rates(args, service.recorder, worker, server_pid, database_file, result)
    bare = result.saturation.get("bare")
    if bare and not any(s.series == "ours" and s.rate == bare for s in result.steps):
        for attempt in range(3):
            step = await one_step(args, service.recorder, worker, server_pid, database_file, "ours", bare,
                                  step_id + 1 + attempt)
            result.steps.append(step)
            print_step(step, flush=True, nodes=result.nodes)
            await settle(service.recorder)
            if not step.disturbed:
                break


async def sweep_rates(args: argparse.Namespace, recorder: Any, worker: Worker, server_pid: int | list[int],
                      database_file: str, result: LiveResult, kinds: tuple[str, ...] = ("bare", "ours")) -> int:
    """The rates in turn for each kind of rooms in `kinds`. `server_pid`: the server's process (a cluster:
    one per node, their CPU summed, each kept in StepResult.node_cpu)."""
    active = {series: True for series in kinds}
    deadline = time.monotonic() + args.live_budget
    step_id = 0
    for rate in args.rates:
        for series in kinds:
            failed = disturbed = 0
            # A failing rate is tried again (one GC pause is not saturation); a failure while other processes
            # took more than a quarter of a core is not counted (shared machine), up to three times.
            while active[series] and failed < 2 and disturbed < 3:
                if time.monotonic() > deadline:
                    print("live time budget spent: stopping the sweep", flush=True)
                    return step_id
                step_id += 1
                step = await one_step(args, recorder, worker, server_pid, database_file, series, rate, step_id)
                result.steps.append(step)
                print_step(step, flush=True, nodes=result.nodes)
                await settle(recorder)
                if step.keeps_up:
                    result.saturation[series] = max(result.saturation.get(series, 0), rate)
                    break
                if step.disturbed:
                    disturbed += 1
                else:
                    failed += 1
            else:
                active[series] = False
        if not any(active.values()):
            break
    return step_id


async def one_step(args: argparse.Namespace, recorder: Any, worker: Worker, server_pid: int | list[int],
                   database_file: str, series: str, rate: int, step_id: int) -> StepResult:
    pids = server_pid if isinstance(server_pid, list) else [server_pid]
    nodes_before = [process_cpu(pid) for pid in pids]
    before = (sum(nodes_before), time.process_time(), recorder.stats.messages, recorder.stats.flushes,
              machine_busy())
    samples: list[tuple[float, int]] = []
    queued = [0]

    async def sample() -> None:
        while True:
            samples.append((time.perf_counter(), recorder.stats.messages))
            queued[0] = max(queued[0], recorder.queued)
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    t0 = time.perf_counter()
    reply = await worker.call({"cmd": "step", "step": step_id, "series": series, "rate": rate,
                               "seconds": args.step_seconds, "drain": 3.0, "receivers": 2,
                               "db": database_file if series == "ours" else None})
    sampler.cancel()
    node_cpu = [process_cpu(pid) - cpu for pid, cpu in zip(pids, nodes_before, strict=True)]
    step = StepResult(series, rate, reply, sum(node_cpu), time.process_time() - before[1], node_cpu=node_cpu)
    step.others_cpu = machine_busy() - before[4] - step.server_cpu - step.component_cpu - reply["cpu"]
    step.server_rss = sum(process_rss_mib(pid) for pid in pids)
    if series == "ours":
        waited = time.perf_counter() + 10
        while recorder.stats.messages - before[2] < reply["sent"] and time.perf_counter() < waited:
            await asyncio.sleep(0.05)
        step.recorded = recorder.stats.messages - before[2]
        step.backlog = queued[0]
        # steady recording rate: from 1 s into the sending to its end
        t_send_end = t0 + reply["send_seconds"]
        window = [(t, n) for t, n in samples if t0 + 1.0 <= t <= t_send_end]
        if len(window) >= 2 and window[-1][0] > window[0][0]:
            step.recorded_rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
        flushes = recorder.stats.flushes - before[3]
        lags = recorder.stats.lags[-flushes:] if flushes > 0 else []
        step.recorder_lag_p99_ms = percentile(lags, 0.99) * MS
    return step


async def settle(recorder: Any) -> None:
    """Let the server and the recorder drain before the next step."""
    deadline = time.perf_counter() + 10
    await asyncio.sleep(0.5)
    while recorder.queued and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)


async def recorder_capacity(service: Any, trios: list[Trio], count: int, result: LiveResult) -> None:
    """Room traffic fed straight into the recorder (no XMPP): how fast its batches reach the database."""
    from dotimely_chat.services.ports import Mark

    if count <= 0:
        return
    recorder = service.recorder
    base = recorder.stats.messages
    started = time.perf_counter()
    ids = []
    for i in range(count):
        trio = trios[i % len(trios)]
        sid = f"syn-{i}-{secrets.token_hex(6)}"
        ids.append((trio, sid))
        recorder.message_said(trio.ours, trio.customer["jid"], sid, sid, sid, has_attachment=False)
    deadline = started + 120
    while recorder.stats.messages - base < count and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    result.capacity_messages = (recorder.stats.messages - base) / (time.perf_counter() - started)
    base = recorder.stats.markers
    started = time.perf_counter()
    markers = 0
    for i, (trio, sid) in enumerate(ids):
        reader = trio.staff if i % 2 else trio.owner
        recorder.marked(trio.ours, reader["jid"], Mark("displayed", sid))
        markers += 1
    deadline = started + 120
    while recorder.stats.markers - base < markers and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    result.capacity_markers = (recorder.stats.markers - base) / (time.perf_counter() - started)
    print(f"recorder capacity (synthetic traffic, DB side): {result.capacity_messages:,.0f} messages/s, "
          f"{result.capacity_markers:,.0f} displayed markers/s", flush=True)


def fmt_ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "lost"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


STEP_HEADER = (f"{'offered/s':>9} {'rooms':<5} {'sent/s':>7} {'deliv.':>7} {'p50 ms':>7} {'p99 ms':>7} "
               f"{'max ms':>7} {'server':>7} {'compon.':>7} {'gener.':>6} {'rec./s':>7} {'DB lag':>7} "
               f"{'rec.lag':>7} {'others':>6} {'S.RSS':>5}  keeps up")


def node_shares(step: StepResult, nodes: list[str]) -> str:
    """Each node's beam.smp CPU in % of one core: '127.0.0.1 40% + 127.0.0.2 35%'."""
    return " + ".join(f"{node} {100 * cpu / step.wall:.0f}%" for node, cpu in zip(nodes, step.node_cpu, strict=True))


def print_step(step: StepResult, flush: bool = False, nodes: list[str] | None = None) -> None:
    """One step's line; with `nodes` (a cluster), the server's CPU per node on a line below."""
    r = step.reply
    delivered = f"{100 * r['delivered'] / max(1, r['expected']):.1f}%"
    db = fmt_ms(r["db_lag"]["p99"]) if "db_lag" in r else "-"
    recorded = f"{step.recorded_rate:,.0f}" if not math.isnan(step.recorded_rate) else "-"
    flags = "yes" if step.keeps_up else "no"
    if not step.keeps_up and step.disturbed:
        flags += " (disturbed: other processes busy)"
    if step.generator_share > 0.85:
        flags += " (generator near a full core)"
    if r["lost_connections"]:
        flags += f" ({r['lost_connections']} connections lost)"
    if step.series == "ours" and step.backlog > step.rate:  # more than a second of traffic queued
        flags += f" (recorder queue up to {step.backlog:,})"
    print(f"{step.rate:>9} {step.series:<5} {step.achieved:>7,.0f} {delivered:>7} {fmt_ms(r['latency']['p50']):>7} "
          f"{fmt_ms(r['latency']['p99']):>7} {fmt_ms(r['latency']['max']):>7} "
          f"{100 * step.server_cpu / step.wall:>6.0f}% {100 * step.component_cpu / step.wall:>6.0f}% "
          f"{100 * step.generator_share:>5.0f}% {recorded:>7} {db:>7} {fmt_ms(step.recorder_lag_p99_ms):>7} "
          f"{100 * max(0.0, step.others_cpu) / step.wall:>5.0f}% {step.server_rss:>5.0f}  {flags}",
          flush=flush)
    if nodes and len(step.node_cpu) == len(nodes) > 1:
        print(f"{'':18}server per node: {node_shares(step, nodes)}", flush=flush)


# =============================================================================================
# 2. Queries over a million recorded messages.
# =============================================================================================
STAFF_PER_BUSINESS = 10
ROOMS_PER_BUSINESS = 500
BUSY_ROOMS = 5


@dataclass
class Dataset:
    businesses: list[dict[str, Any]]
    people: list[dict[str, Any]]
    memberships: list[dict[str, Any]]
    appointments: list[dict[str, Any]]
    rooms: list[dict[str, Any]]
    presence: list[dict[str, Any]]
    messages: list[tuple[Any, ...]]   # id, room_id, stanza_id, origin/message id, sender_id, sender_jid, sent_at, attachment
    statuses: list[tuple[Any, ...]]   # message_id, room_id, person_id, delivered_at, via, read_at
    marks: list[tuple[int, int, int, int]]
    room_keys: list[tuple[str, str]]  # by room index: (business external id, conversation)
    member_keys: list[tuple[str, str]]  # (business external id, person external id)
    busy: list[int]                   # room indices of the busy rooms


def build_dataset(messages: int, seed: int = 7) -> Dataset:
    rng = random.Random(seed)
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    busy_size = messages // 50 if messages >= 10_000 else 0
    busy_n = BUSY_ROOMS if busy_size else 0
    sizes: list[int] = []
    remaining = messages - busy_n * busy_size
    while remaining > 0:
        size = min(remaining, rng.randint(5, 35))
        sizes.append(size)
        remaining -= size
    n_rooms = len(sizes) + busy_n
    busy = sorted(rng.sample(range(n_rooms), busy_n))
    for index in busy:
        sizes.insert(index, busy_size)
    n_business = max(1, math.ceil(n_rooms / ROOMS_PER_BUSINESS))

    businesses = [{"id": b + 1, "external_id": f"qb{b}", "name": f"Query Bench {b}", "created_at": base}
                  for b in range(n_business)]
    people: list[dict[str, Any]] = []
    memberships: list[dict[str, Any]] = []
    member_keys: list[tuple[str, str]] = []

    def person(business: int, role: str) -> int:
        pid = len(people) + 1
        people.append({"id": pid, "external_id": f"qp{pid}", "jid": f"qp{pid}@bench.test",
                       "display_name": f"{role.title()} {pid}", "email": None, "phone": None, "created_at": base})
        memberships.append({"id": len(memberships) + 1, "business_id": business + 1, "person_id": pid,
                            "role": role, "created_at": base})
        member_keys.append((f"qb{business}", f"qp{pid}"))
        return pid

    owners = [person(b, "owner") for b in range(n_business)]
    staff = [[person(b, "staff") for _ in range(STAFF_PER_BUSINESS)] for b in range(n_business)]
    customers: list[list[int]] = [[] for _ in range(n_business)]
    appointments, rooms, room_keys, members = [], [], [], []
    for k in range(n_rooms):
        b = k % n_business
        slot = k // n_business
        if slot % 2 == 0:
            customers[b].append(person(b, "customer"))
        customer, worker = customers[b][-1], staff[b][slot % STAFF_PER_BUSINESS]
        starts = base + dt.timedelta(minutes=30 * k)
        appointments.append({"id": k + 1, "business_id": b + 1, "external_id": f"qa{k}", "customer_id": customer,
                             "staff_id": worker, "starts_at": starts, "duration_minutes": 30,
                             "service_name": "Haircut", "status": "booked", "created_at": base, "updated_at": base})
        rooms.append({"id": k + 1, "business_id": b + 1, "appointment_id": k + 1, "audience": "everyone",
                      "jid": f"qr{k}@rooms.bench.test", "name": f"Haircut · Customer {customer}",
                      "created_at": starts, "last_activity_at": starts})
        room_keys.append((f"qb{b}", f"qr{k}"))
        members.append((customer, worker, owners[b]))

    # Messages in time order: a room talks within a window of neighbouring rooms; busy rooms all along.
    order: list[tuple[float, int]] = []
    busy_set = set(busy)
    for k, size in enumerate(sizes):
        for _ in range(size):
            order.append((rng.random() * n_rooms if k in busy_set else k + rng.random() * 200, k))
    order.sort()
    msgs: list[tuple[Any, ...]] = []
    per_room: list[list[tuple[int, int, dt.datetime]]] = [[] for _ in range(n_rooms)]
    for position, (key, k) in enumerate(order):
        mid = position + 1
        sender = members[k][rng.choices((0, 1, 2), (50, 35, 15))[0]]
        sent_at = base + dt.timedelta(seconds=key * 1800)
        ident = f"{rng.getrandbits(128):032x}"
        msgs.append((mid, k + 1, f"{rng.getrandbits(128):032x}", ident, sender, f"qp{sender}@bench.test", sent_at,
                     rng.random() < 0.05))
        per_room[k].append((mid, sender, sent_at))
    statuses: list[tuple[Any, ...]] = []
    marks: list[tuple[int, int, int, int]] = []
    read_cut: dict[tuple[int, int], int] = {}
    for k in range(n_rooms):
        ids = per_room[k]
        for member in members[k]:
            luck = rng.random()
            if luck < 0.85 or len(ids) < 4:
                read = len(ids)                       # read everything
            elif luck < 0.95:
                read = len(ids) - rng.randint(1, 3)   # the last few unread
            else:
                read = rng.randint(0, len(ids) - 1)   # fell behind
            read_cut[(k, member)] = read
            marks.append((k + 1, member, ids[-1][0] if ids else 0, ids[read - 1][0] if read else 0))
    for mid, room_id, _, _, sender, _, sent_at, _ in msgs:
        k = room_id - 1
        for member in members[k]:
            if member == sender:
                continue
            cut = read_cut[(k, member)]
            is_read = cut > 0 and mid <= per_room[k][cut - 1][0]
            statuses.append((mid, room_id, member, sent_at + dt.timedelta(seconds=2),
                             "online" if rng.random() < 0.7 else "join",
                             sent_at + dt.timedelta(minutes=5) if is_read else None))
    presence = [{"person_id": p["id"], "online": rng.random() < 0.2,
                 "last_seen_at": base + dt.timedelta(minutes=rng.randint(0, 500_000)), "idle_since": None,
                 "status_text": None, "updated_at": base} for p in people]
    return Dataset(businesses, people, memberships, appointments, rooms, presence, msgs, statuses, marks,
                   room_keys, member_keys, busy)


async def fill(db: Any, data: Dataset, batch: int = 10_000) -> float:
    from sqlalchemy import insert, text

    from dotimely_chat.storage.models.appointments import Appointment, Room
    from dotimely_chat.storage.models.directory import Business, Membership, Person
    from dotimely_chat.storage.models.status import MemberMark, MessageStatus, PresenceState, RoomMessage

    started = time.perf_counter()

    async def put(table: Any, rows: list[dict[str, Any]]) -> None:
        for i in range(0, len(rows), batch):
            async with db.engine.begin() as connection:
                await connection.execute(insert(table), rows[i:i + batch])

    for model, rows in ((Business, data.businesses), (Person, data.people), (Membership, data.memberships),
                        (Appointment, data.appointments), (Room, data.rooms), (PresenceState, data.presence)):
        await put(model.__table__, rows)
    await put(RoomMessage.__table__, [
        {"id": m[0], "room_id": m[1], "stanza_id": m[2], "origin_id": m[3], "message_id": m[3], "sender_id": m[4],
         "sender_jid": m[5], "sent_at": m[6], "has_attachment": m[7]} for m in data.messages])
    await put(MessageStatus.__table__, [
        {"id": i + 1, "message_id": s[0], "room_id": s[1], "person_id": s[2], "delivered_at": s[3],
         "delivered_via": s[4], "read_at": s[5]} for i, s in enumerate(data.statuses)])
    await put(MemberMark.__table__, [{"room_id": m[0], "person_id": m[1], "delivered_upto": m[2], "read_upto": m[3]}
                                     for m in data.marks])
    if db.engine.dialect.name == "postgresql":
        async with db.engine.begin() as connection:
            # explicit ids: move the sequences past them, as the application's own inserts would
            for table in ("businesses", "people", "memberships", "appointments", "rooms", "room_messages",
                          "message_status"):
                await connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                              f"(SELECT max(id) FROM {table}))"))
            await connection.execute(text("ANALYZE"))
    return time.perf_counter() - started


@dataclass
class QueryResult:
    label: str
    fill_seconds: float = math.nan
    timings: dict[str, list[float]] = field(default_factory=dict)
    plans: list[tuple[str, str, bool]] = field(default_factory=list)  # (sql, plan, scans)
    slowest: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    statements: dict[str, float] = field(default_factory=dict)  # SQL statements per call
    others: float = math.nan  # share of a core other processes used while timing
    error: str | None = None


STATUS_TABLES = ("room_messages", "message_status", "member_marks", "presence")


def plan_scans(dialect: str, plan: str, sql: str) -> bool:
    """Whether a plan reads a status table without an index or sorts in a temporary tree."""
    if dialect == "sqlite":
        return any((line.startswith("SCAN ") and "USING" not in line) or "TEMP B-TREE" in line
                   for line in plan.splitlines())
    # PostgreSQL: a sequential scan, a sort, or an index walked without the room in its condition (the room
    # only filtered: rows of every room are read until enough of this one are found)
    return "Seq Scan" in plan or "Sort" in plan or any(
        "Filter:" in line and "room_id =" in line for line in plan.splitlines())


async def query_bench(label: str, db: Any, data: Dataset, calls: int, seed: int = 11) -> QueryResult:
    from sqlalchemy import event, text

    from dotimely_chat.services.room_members import RoomMembership
    from dotimely_chat.services.status_queries import StatusQueries
    from dotimely_chat.storage import upgrade_database

    result = QueryResult(label)
    await upgrade_database(db)
    result.fill_seconds = await fill(db, data)
    queries = StatusQueries(db, RoomMembership(db, None, set()), "rooms.bench.test")  # type: ignore[arg-type]
    rng = random.Random(seed)

    executed: dict[str, tuple[str, Any]] = {}
    statement_time: dict[str, float] = {}
    capture = {"on": False, "time": False}
    counted = [0]

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        counted[0] += 1
        if capture["on"] and statement not in executed:
            executed[statement] = (statement, parameters)
        if capture["time"]:
            conn.info.setdefault("bench_t0", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if capture["time"]:
            t0 = conn.info["bench_t0"].pop()
            statement_time[statement] = statement_time.get(statement, 0.0) + time.perf_counter() - t0

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    event.listen(db.engine.sync_engine, "after_cursor_execute", after)

    def message_args() -> tuple[str, str, str]:
        m = data.messages[rng.randrange(len(data.messages))]
        business, conversation = data.room_keys[m[1] - 1]
        return business, conversation, m[2]

    def conversation_args(busy: bool = False) -> tuple[str, str]:
        index = rng.choice(data.busy) if busy else rng.randrange(len(data.rooms))
        return data.room_keys[index]

    def presence_args() -> tuple[str, str]:
        return data.member_keys[rng.randrange(len(data.member_keys))]

    async def timed(name: str, call: Any, make_args: Any, n: int) -> None:
        for _ in range(min(50, n)):  # warm-up: connections, statement caches
            await call(*make_args())
        values = []
        counted[0] = 0
        for _ in range(n):
            arguments = make_args()
            t0 = time.perf_counter()
            await call(*arguments)
            values.append((time.perf_counter() - t0) * MS)
        result.timings[name] = values
        result.statements[name] = counted[0] / n

    busy0, own0, wall0, server0 = machine_busy(), time.process_time(), time.perf_counter(), cpu_of_command("postgres")
    await timed("message_status", queries.message_status, message_args, calls)
    await timed("conversation_status", queries.conversation_status, conversation_args, calls)
    await timed("presence", queries.presence, presence_args, calls)
    result.others = (machine_busy() - busy0 - (time.process_time() - own0) - (cpu_of_command("postgres") - server0)
                     ) / (time.perf_counter() - wall0)
    if data.busy:
        capture["time"] = True
        await timed("conversation_status, busy rooms", queries.conversation_status, lambda: conversation_args(True),
                    max(100, calls // 10))
        capture["time"] = False
        total = sum(statement_time.values()) or 1.0
        result.slowest["conversation_status, busy rooms"] = sorted(
            ((" ".join(s.split())[:110], t / total) for s, t in statement_time.items()), key=lambda x: -x[1])[:3]

    # The plans of what the three queries ran, on a busy room and an ordinary one.
    capture["on"] = True
    busy_room = data.room_keys[data.busy[0]] if data.busy else data.room_keys[0]
    busy_message = next(m for m in data.messages if data.room_keys[m[1] - 1] == busy_room)
    await queries.message_status(busy_room[0], busy_room[1], busy_message[2])
    await queries.conversation_status(*busy_room)
    await queries.conversation_status(*conversation_args())
    await queries.presence(*presence_args())
    capture["on"] = False
    dialect = db.engine.dialect.name
    async with db.engine.connect() as connection:
        for statement, parameters in executed.values():
            if not any(f" {table}" in statement for table in STATUS_TABLES):
                continue
            prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN (COSTS OFF) "
            rows = (await connection.exec_driver_sql(prefix + statement, parameters)).all()
            plan = "\n".join(str(row[-1]) for row in rows)
            sql = " ".join(statement.split())
            result.plans.append((sql, plan, plan_scans(dialect, plan, sql)))
        await connection.execute(text("SELECT 1"))
    event.remove(db.engine.sync_engine, "before_cursor_execute", before)
    event.remove(db.engine.sync_engine, "after_cursor_execute", after)
    return result


async def queries_on_sqlite(data: Dataset, calls: int) -> QueryResult:
    from dotimely_chat.storage import Database

    with tempfile.TemporaryDirectory(prefix="dotimely-bench-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'status.db'}")
        try:
            return await query_bench("SQLite", db, data, calls)
        finally:
            await db.dispose()


async def queries_on_postgres(url: str, data: Dataset, calls: int) -> QueryResult:
    from dotimely_chat.storage import Database, describe_url

    admin = Database(url)
    schema = f"bench_status_{secrets.token_hex(4)}"
    try:
        try:
            async with admin.engine.begin() as connection:
                await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        except Exception as exc:  # noqa: BLE001
            return QueryResult("PostgreSQL", error=f"{describe_url(url)} not reachable: {type(exc).__name__}: {exc}")
        db = Database(url, connect_args={"server_settings": {"search_path": schema}})
        try:
            return await query_bench("PostgreSQL", db, data, calls)
        finally:
            await db.dispose()
            async with admin.engine.begin() as connection:
                await connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.dispose()


# =============================================================================================
# Report
# =============================================================================================
def at_saturation(live_result: LiveResult) -> StepResult | None:
    """The step of our rooms at the bare rooms' saturation rate that tells the recording rate and the status lag
    there: one that kept up, else the last undisturbed one, else the last one."""
    bare = live_result.saturation.get("bare")
    at_bare = [s for s in live_result.steps if s.series == "ours" and s.rate == bare]
    return next((s for s in at_bare if s.keeps_up), None) or next(
        (s for s in reversed(at_bare) if not s.disturbed), None) or (at_bare[-1] if at_bare else None)


def cpu_at_saturation(live_result: LiveResult, series: str) -> StepResult | None:
    """The last step of `series` at its own saturation rate that kept up (where its CPU figures are read)."""
    rate = live_result.saturation.get(series)
    at_rate = [s for s in live_result.steps if s.series == series and s.rate == rate and s.keeps_up]
    return at_rate[-1] if rate and at_rate else None


def report_live(live_result: LiveResult) -> None:
    print()
    name = live_result.server
    nodes = live_result.nodes
    print(f"== 1. Rooms of 3 members through {name} ({live_result.rooms} rooms, one sender per room) ==")
    if nodes:
        print(f"  nodes {', '.join(nodes)}; members placed {name.rsplit(', ', 1)[-1]} (bench/cluster_layout.py); "
              "each trio's bare room and ours on the same node (node_links.room_node)")
    print(STEP_HEADER)
    for step in live_result.steps:
        print_step(step, nodes=nodes)
    print("  sent/s: achieved offered rate; deliv.: copies received by the two receiving members; p50/p99/max:")
    server_process = {"prosody": "Prosody's process", "ejabberd": "ejabberd's beam.smp"}.get(
        live_result.kind, "the beam.smp of every node summed, each node below the step")
    print(f"  scheduled send -> receipt; CPU in % of one core (server: {server_process}; the component process; "
          "the generator);")
    print("  rec./s: messages the recorder committed per second while sending (ours); DB lag: scheduled send ->")
    print("  the message's row visible in the database (p99, polled every 20 ms); rec.lag: the recorder's own")
    print("  p99 from the stanza's arrival to its batch's commit; others: CPU of everything else on the machine")
    print("  (other people's tests disturb the figures: rerun when it is high); S.RSS: the server's memory, MiB"
          + (" (every node)." if nodes else "."))
    bare = live_result.saturation.get("bare")
    ours = live_result.saturation.get("ours")
    print()
    print(f"{name + ' saturation, rooms without the observer':47} {bare or 'none of the rates':>8} msg/s")
    print(f"{name + ' saturation, our rooms with the observer':47} {ours or 'none of the rates':>8} msg/s"
          + (f"   ({ours / bare:.2f} of the rate without)" if bare and ours else ""))
    if bare:
        at = at_saturation(live_result)
        if at is not None:
            print(f"recording rate at {bare} msg/s offered           {at.recorded_rate:8,.0f} msg/s   "
                  f"ratio {at.recorded_rate / bare:.2f} (target >= 1.0); recorded {at.recorded:,} of "
                  f"{at.reply['sent']:,} sent")
            print(f"status lag p99 at {bare} msg/s (send -> DB row)  {fmt_ms(at.reply['db_lag']['p99']):>8} ms"
                  f"      (target 200 ms; p50 {fmt_ms(at.reply['db_lag']['p50'])} ms, the recorder's own p99 "
                  f"{fmt_ms(at.recorder_lag_p99_ms)} ms)")
        else:
            print(f"no step of our rooms ran at {bare} msg/s")
    for series, rate in (("bare", bare), ("ours", ours)):
        if (s := cpu_at_saturation(live_result, series)) is not None:
            per_node = f" ({node_shares(s, nodes)})" if nodes else ""
            print(f"CPU at {rate} msg/s, {series} rooms (of one core)  {name} {100 * s.server_cpu / s.wall:.0f}%"
                  f"{per_node}, component {100 * s.component_cpu / s.wall:.0f}%, generator "
                  f"{100 * s.generator_share:.0f}%, others {100 * max(0.0, s.others_cpu) / s.wall:.0f}%")
    if live_result.steps:
        top = max(live_result.steps, key=lambda s: s.generator_share)
        verdict = "not the bottleneck" if top.generator_share < 0.85 else "NEAR A FULL CORE: it may be the bottleneck"
        print(f"load generator: at most {100 * top.generator_share:.0f}% of a core ({top.rate} msg/s, {top.series}): "
              f"{verdict}")
    lag_ok = [s.rate for s in live_result.steps if s.series == "ours" and s.keeps_up
              and s.reply.get("db_lag", {}).get("p99", math.inf) < LATENCY_TARGET_MS]
    print(f"highest rate of our rooms with status lag p99 < 200 ms: {max(lag_ok) if lag_ok else 'none'}"
          + (" msg/s" if lag_ok else ""))
    if not math.isnan(live_result.capacity_messages):
        ratio = f"{live_result.capacity_messages / bare:.2f}" if bare else "-"
        print(f"recorder capacity, synthetic (DB side only)     {live_result.capacity_messages:8,.0f} msg/s   "
              f"ratio to {name}'s saturation {ratio}; displayed markers {live_result.capacity_markers:,.0f}/s")


def report_servers(results: list[LiveResult]) -> None:
    """The servers side by side (--server both, all): each one's saturation rate against Prosody's and one
    ejabberd node's in the same run; then each one's figures at its own saturation."""
    if len(results) < 2:
        return
    references = [r for r in results if r.kind in ("prosody", "ejabberd")]
    print()
    print("== Servers compared (same run, same machine) ==")
    for series, what in (("bare", "rooms without the observer"), ("ours", "our rooms with the observer")):
        for other in results:
            for reference in references:
                if results.index(reference) >= results.index(other):
                    continue
                a, b = reference.saturation.get(series), other.saturation.get(series)
                ratio = f"{b / a:.2f}" if a and b else "-"
                print(f"{what:28} {reference.server} {a or 'none'} msg/s, {other.server} {b or 'none'} msg/s: "
                      f"ratio {other.server}/{reference.server} {ratio}")
    print()
    print(f"{'':28} {'saturation bare/ours':>21} {'recording':>9} {'status lag':>10}   CPU of one core at the "
          f"saturation of our rooms")
    print(f"{'':28} {'msg/s':>21} {'ratio':>9} {'p99 ms':>10}   (server, per node; component)")
    for result in results:
        bare, ours = result.saturation.get("bare"), result.saturation.get("ours")
        at = at_saturation(result)
        recording = f"{at.recorded_rate / bare:.2f}" if at and bare and not math.isnan(at.recorded_rate) else "-"
        lag = fmt_ms(at.reply["db_lag"]["p99"]) if at and "db_lag" in at.reply else "-"
        s = cpu_at_saturation(result, "ours")
        cpu = "-" if s is None else (f"{100 * s.server_cpu / s.wall:.0f}%"
                                     + (f" ({node_shares(s, result.nodes)})" if result.nodes else "")
                                     + f"; component {100 * s.component_cpu / s.wall:.0f}%")
        print(f"{result.server:28} {f'{bare or 0} / {ours or 0}':>21} {recording:>9} {lag:>10}   {cpu}")
    print("  recording ratio and status lag: our rooms at the bare rooms' saturation rate (0: none of the rates)")


def report_queries(messages: int, results: list[QueryResult], data: Dataset | None) -> None:
    print()
    shape = (f"{len(data.rooms):,} rooms of 3 members, {len(data.people):,} people, {len(data.statuses):,} status "
             f"rows, {len(data.busy)} busy rooms of {messages // 50:,} messages" if data else "")
    print(f"== 2. Status and presence queries with {messages:,} recorded messages ({shape}) ==")
    names = []
    for r in results:
        for name in r.timings:
            if name not in names:
                names.append(name)
    header = f"{'':46}" + "".join(f"{r.label + ' p50':>16}{r.label + ' p99':>16}" for r in results)
    print(header + f"{'SQL/call':>10}   (target p99 < 10 ms)")
    for name in names:
        cells = ""
        for r in results:
            values = r.timings.get(name, [])
            cells += f"{percentile(values, .5):>13.2f} ms{percentile(values, .99):>13.2f} ms"
        per_call = results[0].statements.get(name, math.nan)
        print(f"{name + f' ({len(results[0].timings.get(name, []))} calls)':46}{cells}{per_call:>10.1f}")
    print(f"{'bulk fill (all tables)':46}" + "".join(f"{r.fill_seconds:>14.1f} s{'':16}" for r in results))
    print("  SQL/call: statements one call runs (the database server is also the client's machine here: "
          "PostgreSQL and SQLite both on 127.0.0.1)")
    for r in results:
        if r.error:
            print(f"{r.label}: {r.error}")
        elif r.others > 0.25:
            print(f"{r.label}: other processes used {100 * r.others:.0f}% of a core while timing: figures disturbed")
        for name, rows in r.slowest.items():
            print(f"{r.label}, {name}: time by statement:")
            for sql, share in rows:
                print(f"   {100 * share:4.0f}%  {sql}")
        scanning = [p for p in r.plans if p[2]]
        print(f"{r.label}: {len(r.plans)} status statements explained, {len(scanning)} scan or sort:")
        for sql, plan, _ in scanning:
            print(f"   {sql[:150]}")
            for line in plan.splitlines():
                print(f"      {line}")


async def run(args: argparse.Namespace) -> None:
    from harness import CLUSTER, servers_of  # bench/ is on sys.path when run as a script

    live_results = []
    if not args.skip_live:
        for kind in servers_of(args.server):
            for layout in (args.layouts if kind == CLUSTER else ["split"]):
                print(STEP_HEADER, flush=True)
                live_results.append(await live(args, kind, layout))
    results: list[QueryResult] = []
    data = None
    if not args.skip_queries:
        started = time.perf_counter()
        data = build_dataset(args.messages)
        print(f"\ndataset of {args.messages:,} messages built in {time.perf_counter() - started:.1f} s", flush=True)
        results.append(await queries_on_sqlite(data, args.calls))
        print(f"SQLite done (fill {results[-1].fill_seconds:.1f} s)", flush=True)
        if not args.skip_postgres:
            results.append(await queries_on_postgres(args.postgres_url, data, args.calls))
            print(f"PostgreSQL done (fill {results[-1].fill_seconds:.1f} s)", flush=True)
    print("\n" + "=" * 110)
    for live_result in live_results:
        report_live(live_result)
    report_servers(live_results)
    if results:
        report_queries(args.messages, results, data)


def main() -> None:
    from cluster_layout import parse_layouts  # bench/ is on sys.path when run as a script
    from harness import add_server_argument

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=50, help="rooms of each kind (3 members each)")
    parser.add_argument("--rates", type=lambda s: [int(x) for x in s.split(",")],
                        default=[250, 500, 750, 875, 1000, 1125, 1250, 1500, 1750, 2000, 2500],
                        help="offered rates, messages/s over all rooms, increasing")
    parser.add_argument("--step-seconds", type=float, default=5.0, help="sending time per step")
    parser.add_argument("--live-budget", type=float, default=240.0, help="seconds for the whole rate sweep")
    parser.add_argument("--capacity-messages", type=int, default=10_000,
                        help="synthetic messages (and as many markers) fed straight to the recorder")
    parser.add_argument("--messages", type=int, default=1_000_000, help="recorded messages for the queries")
    parser.add_argument("--calls", type=int, default=2000, help="random calls of each query")
    parser.add_argument("--postgres-url", default=os.environ.get("DOTIMELY_TEST_POSTGRES_URL",
                                                                 "postgresql+asyncpg://127.0.0.1:5432/test"))
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    add_server_argument(parser, cluster=True)
    parser.add_argument("--layouts", type=parse_layouts, default=["split"],
                        help="on the cluster, where the members connect, one run each: split (each room's members "
                             "on the node it runs on), crossed (the customer on the other node)")
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker_main())
        return
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
