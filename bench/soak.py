"""Soak benchmark: the whole stack under steady room traffic for a long time; does anything grow?

Prosody from the generated config (in this process's care) and the whole service in a child process (so its
memory, file descriptors and tasks are its own), on free loopback ports in a temp dir. Rooms of three members
(owner, staff, customer; one business each, opened by POST .../conversations) get `--rate` messages/s in all
from the customers, the staff member of each room sending a `displayed` marker for the room's previous
message after every `--mark-every`th message; the load comes from bench/status.py's lean generator in its own
child process. Every `--sample-seconds` (a minute) it prints the component's and Prosody's resident memory,
their open file descriptors and sockets, the component's asyncio tasks, the recorder's lag (its
arrival → commit histogram read from GET /metrics, and the end-to-end send → row in the database) and
queue, and delivery. At the end, for each figure, whether it stayed flat: the mean of the last third of
the samples against the first third (the first sample is warm-up and left out), and the slope per hour.

The default rate is half the saturation bench/README.md reports for our rooms with the observer (375 msg/s,
bench/status.py, 2026-11-25 evening): 187 msg/s.

Run: .venv/bin/python bench/soak.py [--minutes 30] [--rate 187] [--rooms 50] [--mark-every 4]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import math
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (str(ROOT), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from status import Worker, api_call, machine_busy, process_cpu, process_rss_mib  # noqa: E402

SATURATION = 375  # msg/s, our rooms with the observer (bench/README.md, status.py, latest run)
DEFAULT_RATE = SATURATION // 2


# ------------------------------------------------------------------------------------------ the service
async def serve(document_file: str) -> None:
    """The child: the whole service until SIGTERM."""
    from dotimely_chat.app import ChatService
    from dotimely_chat.config import parse_config

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = parse_config(json.loads(Path(document_file).read_text()), Path(document_file).parent)
    service = ChatService(config)
    await service.start()
    assert await service.component.wait_connected(30), service.component.state
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    print("READY", flush=True)
    await stopped.wait()
    await service.stop()


# ----------------------------------------------------------------------------------------- /proc figures
def open_fds(pid: int) -> tuple[int, int]:
    """(open file descriptors, of which sockets) of a process."""
    fds = sockets = 0
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        fds += 1
        sockets += target.startswith("socket:")
    return fds, sockets


# ---------------------------------------------------------------------------------------- /metrics
def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def lag_buckets(values: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> list[tuple[float, float]]:
    """The recorder's lag histogram: (upper bound in seconds, cumulative count), ascending."""
    found = [(float(dict(labels)["le"]), value) for (name, labels), value in values.items()
             if name == "dotimely_recorder_lag_seconds_bucket"]
    return sorted(found)


def quantile_from_buckets(before: list[tuple[float, float]], after: list[tuple[float, float]], q: float) -> float:
    """The bucket's upper bound under which a fraction `q` of the interval's observations fell."""
    counts = [(bound, a - b) for (bound, a), (_, b) in zip(after, before, strict=True)]
    total = counts[-1][1] if counts else 0
    if total <= 0:
        return math.nan
    for bound, count in counts:
        if count >= q * total:
            return bound
    return math.inf


# -------------------------------------------------------------------------------------------- provision
@dataclass
class Room:
    jid: str
    people: dict[str, dict[str, str]]  # owner/staff/customer -> jid, password


async def provision(api_url: str, token: str, rooms: int) -> list[Room]:
    """One business per room (owner, staff, customer), an appointment and its room, through the API."""
    import aiohttp

    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    semaphore = asyncio.Semaphore(4)
    made: list[tuple[int, Room]] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async def call(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
            return await api_call(http, f"{api_url}/v1/businesses/{path}", method, body)

        async def one(i: int) -> None:
            async with semaphore:
                b = f"soak{i}"
                await call("PUT", b, {"name": f"Soak {i}"})
                people = {}
                for role in ("owner", "staff", "customer"):
                    person = await call("PUT", f"{b}/people/{role[0]}{i}", {"role": role,
                                                                           "display_name": f"{role} {i}"})
                    people[role] = {"jid": person["jid"], "password": person["password"]}
                await call("PUT", f"{b}/appointments/a{i}", {
                    "customer": f"c{i}", "staff": f"s{i}", "starts_at": (when + dt.timedelta(hours=i)).isoformat(),
                    "duration_minutes": 30, "service_name": "Haircut"})
                room = await call("POST", f"{b}/conversations", {"initiator": f"c{i}", "appointment": f"a{i}"})
                made.append((i, Room(room["jid"], people)))

        await asyncio.gather(*(one(i) for i in range(rooms)))
    return [room for _, room in sorted(made, key=lambda pair: pair[0])]


# ---------------------------------------------------------------------------------------------- samples
@dataclass
class Sample:
    minute: float
    component_rss: float
    prosody_rss: float
    component_fds: int
    component_sockets: int
    prosody_fds: int
    prosody_sockets: int
    tasks: float
    lag_p99_ms: float  # the recorder: arrival -> commit (histogram bucket bound)
    lag_mean_ms: float
    db_lag_p99_ms: float  # end to end: scheduled send -> row in the database (generator's poller)
    delivery_p99_ms: float  # Prosody: scheduled send -> receipt by the other members
    queue: float
    sent: int
    delivered: int
    expected: int
    markers: int
    component_cpu: float  # share of one core during the interval
    prosody_cpu: float
    others_cpu: float  # everything else on the machine (other people's tests), cores
    lost_connections: int

    @property
    def disturbed(self) -> bool:
        return self.others_cpu > 0.25


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)


HEADER = (f"{'min':>5} {'comp MiB':>8} {'pros MiB':>8} {'comp fd':>7} {'sock':>5} {'pros fd':>7} {'sock':>5} "
          f"{'tasks':>6} {'lag p99':>8} {'lag avg':>8} {'e2e p99':>8} {'MUC p99':>8} {'queue':>6} {'sent':>7} "
          f"{'deliv.':>8} {'marks':>6} {'comp %':>6} {'pros %':>6} {'others':>6}")


def fmt(value: float, digits: int = 0) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:,.{digits}f}"


def print_sample(s: Sample) -> None:
    delivered = f"{s.delivered / s.expected:.1%}" if s.expected else "-"
    print(f"{s.minute:>5.1f} {s.component_rss:>8.1f} {s.prosody_rss:>8.1f} {s.component_fds:>7} "
          f"{s.component_sockets:>5} {s.prosody_fds:>7} {s.prosody_sockets:>5} {fmt(s.tasks):>6} "
          f"{fmt(s.lag_p99_ms):>8} {fmt(s.lag_mean_ms, 1):>8} {fmt(s.db_lag_p99_ms):>8} {fmt(s.delivery_p99_ms):>8} "
          f"{fmt(s.queue):>6} {s.sent:>7} {delivered:>8} {s.markers:>6} {s.component_cpu:>6.0%} "
          f"{s.prosody_cpu:>6.0%} {s.others_cpu:>6.0%}{'  disturbed' if s.disturbed else ''}", flush=True)


# ------------------------------------------------------------------------------------------------ verdict
@dataclass(frozen=True)
class Check:
    label: str
    attribute: str
    unit: str
    relative: float  # the last third may exceed the first by this fraction...
    absolute: float  # ...plus this much, and still be flat


CHECKS = (
    Check("component RSS", "component_rss", "MiB", 0.05, 3.0),
    Check("Prosody RSS", "prosody_rss", "MiB", 0.05, 3.0),
    Check("component file descriptors", "component_fds", "", 0.0, 2.0),
    Check("component sockets", "component_sockets", "", 0.0, 2.0),
    Check("Prosody file descriptors", "prosody_fds", "", 0.0, 2.0),
    Check("Prosody sockets", "prosody_sockets", "", 0.0, 2.0),
    Check("component asyncio tasks", "tasks", "", 0.05, 3.0),
    Check("recorder lag p99 (arrival -> commit)", "lag_p99_ms", "ms", 0.5, 25.0),
    Check("end-to-end lag p99 (send -> row)", "db_lag_p99_ms", "ms", 0.5, 50.0),
    Check("recorder queue depth", "queue", "", 0.5, 50.0),
)


def slope_per_hour(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 2:
        return math.nan
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return math.nan if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 60


def verdict(samples: list[Sample]) -> bool:
    """Prints, per figure, first third vs last third and the slope; returns whether all stayed flat."""
    steady = samples[1:] if len(samples) > 3 else samples  # the first minute warms caches and pools up
    third = max(1, len(steady) // 3)
    print(f"\nverdict over {len(steady)} samples (first sample left out as warm-up when there are more than 3); "
          f"flat = mean of the last {third} ≤ mean of the first {third} × (1 + relative) + absolute")
    print(f"{'figure':<40} {'first':>10} {'last':>10} {'slope/h':>10}  {'allowed':>16}  verdict")
    all_flat = True
    for check in CHECKS:
        values = [float(getattr(s, check.attribute)) for s in steady]
        usable = [(s.minute, v) for s, v in zip(steady, values, strict=True) if not math.isnan(v)]
        if not usable:
            print(f"{check.label:<40} {'-':>10}")
            continue
        first = sum(v for _, v in usable[:third]) / len(usable[:third])
        last = sum(v for _, v in usable[-third:]) / len(usable[-third:])
        allowed = first * (1 + check.relative) + check.absolute
        flat = last <= allowed
        all_flat &= flat
        slope = slope_per_hour([m for m, _ in usable], [v for _, v in usable])
        print(f"{check.label:<40} {fmt(first, 1):>10} {fmt(last, 1):>10} {fmt(slope, 1):>10}  "
              f"≤ {fmt(allowed, 1):>10} {check.unit:<3}  {'flat' if flat else 'GROWS'}")
    disturbed = sum(s.disturbed for s in steady)
    if disturbed:
        print(f"{disturbed} of {len(steady)} samples disturbed (other processes above a quarter of a core): the lag "
              "figures of a shared machine say little")
    lost = sum(s.expected - s.delivered for s in samples)
    print(f"copies not delivered: {lost} of {sum(s.expected for s in samples)}; client connections lost: "
          f"{max((s.lost_connections for s in samples), default=0)}")
    print("VERDICT: " + ("everything stayed flat" if all_flat else "something grew (see GROWS above)"))
    return all_flat


# -------------------------------------------------------------------------------------------------- run
async def run(args: argparse.Namespace) -> bool:
    import aiohttp

    from dotimely_chat.config import parse_config
    from dotimely_chat.servers.prosody_process import ProsodyProcess
    from tests.support.config import config_document

    with tempfile.TemporaryDirectory(prefix="dotimely-soak-") as tmp_name:
        tmp = Path(tmp_name)
        document = config_document(tmp / "state")
        (tmp / "config.json").write_text(json.dumps(document))
        config = parse_config(document, tmp)
        prosody = ProsodyProcess(config)
        await prosody.start()
        assert prosody.process is not None
        prosody_pid = prosody.process.pid
        service_log = (tmp / "service.log").open("wb")
        child = await asyncio.create_subprocess_exec(sys.executable, __file__, "--serve", str(tmp / "config.json"),
                                                     stdout=asyncio.subprocess.PIPE, stderr=service_log)
        worker: Worker | None = None
        try:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 90)
            if line.strip() != b"READY":
                raise RuntimeError(f"the service did not start: {line!r}; "
                                   f"{(tmp / 'service.log').read_text()[-2000:]}")
            api = config.http.api_public_url
            started = time.perf_counter()
            rooms = await provision(api, config.api.token, args.rooms)
            worker = await Worker.start()
            users, senders, markers = [], [], []
            for index, room in enumerate(rooms):
                for role in ("owner", "staff", "customer"):
                    person = room.people[role]
                    if role == "customer":
                        senders.append(len(users))
                    elif role == "staff":
                        markers.append(len(users))
                    users.append({"jid": person["jid"], "password": person["password"], "nick": role,
                                  "rooms": [room.jid], "sends": [index] if role == "customer" else []})
            await worker.call({"cmd": "setup", "host": "127.0.0.1", "port": config.xmpp.client_port,
                               "domain": config.xmpp.domain, "cafile": str(prosody.paths.certificate),
                               "users": users, "senders": senders, "markers": markers,
                               "rooms": {"ours": [room.jid for room in rooms]}})
            print(f"{args.rooms} rooms of 3 and {len(users)} clients set up in {time.perf_counter() - started:.1f} s; "
                  f"{args.rate} msg/s (a marker after every {args.mark_every}th) for {args.minutes} min, "
                  f"a sample every {args.sample_seconds:.0f} s", flush=True)
            print(HEADER, flush=True)
            database_file = str((config.state_directory / "dotimely.db").resolve())
            result = Run()
            async with aiohttp.ClientSession() as http:
                async def metrics() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
                    async with http.get(f"{api}/metrics") as response:
                        return parse_metrics(await response.text())

                before = await metrics()
                cpu_before = (process_cpu(child.pid), process_cpu(prosody_pid), time.perf_counter(), machine_busy())
                t0 = time.perf_counter()
                recorded_at_start = before.get(("dotimely_recorder_messages_total", frozenset()), 0.0)
                # One generator step per sample: it sends for the interval less the 2 s it may wait for the
                # last copies and rows, so the load pauses at most that long between samples.
                for step in range(1, max(1, round(args.minutes * 60 / args.sample_seconds)) + 1):
                    reply = await worker.call({
                        "cmd": "step", "step": step, "series": "ours", "rate": args.rate,
                        "seconds": max(1.0, args.sample_seconds - 2.0), "drain": 2.0, "receivers": 2,
                        "db": database_file, "mark_every": args.mark_every}, timeout=args.sample_seconds + 120)
                    now = await metrics()
                    cpu_now = (process_cpu(child.pid), process_cpu(prosody_pid), time.perf_counter(), machine_busy())
                    wall = cpu_now[2] - cpu_before[2]
                    counted = now[("dotimely_recorder_lag_seconds_count", frozenset())] - \
                        before[("dotimely_recorder_lag_seconds_count", frozenset())]
                    summed = now[("dotimely_recorder_lag_seconds_sum", frozenset())] - \
                        before[("dotimely_recorder_lag_seconds_sum", frozenset())]
                    comp_fds, comp_socks = open_fds(child.pid)
                    pros_fds, pros_socks = open_fds(prosody_pid)
                    sample = Sample(
                        minute=(time.perf_counter() - t0) / 60,
                        component_rss=process_rss_mib(child.pid), prosody_rss=process_rss_mib(prosody_pid),
                        component_fds=comp_fds, component_sockets=comp_socks,
                        prosody_fds=pros_fds, prosody_sockets=pros_socks,
                        tasks=now.get(("dotimely_asyncio_tasks", frozenset()), math.nan),
                        lag_p99_ms=quantile_from_buckets(lag_buckets(before), lag_buckets(now), 0.99) * 1000,
                        lag_mean_ms=summed / counted * 1000 if counted else math.nan,
                        db_lag_p99_ms=float(reply.get("db_lag", {}).get("p99", math.nan)),
                        delivery_p99_ms=float(reply["latency"]["p99"]),
                        queue=now.get(("dotimely_recorder_queue_depth", frozenset()), math.nan),
                        sent=reply["sent"], delivered=reply["delivered"], expected=reply["expected"],
                        markers=reply.get("markers", 0),
                        component_cpu=(cpu_now[0] - cpu_before[0]) / wall,
                        prosody_cpu=(cpu_now[1] - cpu_before[1]) / wall,
                        others_cpu=(cpu_now[3] - cpu_before[3] - (cpu_now[0] - cpu_before[0])
                                    - (cpu_now[1] - cpu_before[1]) - reply["cpu"]) / wall,
                        lost_connections=reply["lost_connections"])
                    result.samples.append(sample)
                    print_sample(sample)
                    before, cpu_before = now, cpu_now
                sent = sum(s.sent for s in result.samples)
                waited = time.perf_counter() + 10
                while True:
                    recorded = (await metrics()).get(("dotimely_recorder_messages_total", frozenset()), 0.0) \
                        - recorded_at_start
                    if recorded >= sent or time.perf_counter() > waited:
                        break
                    await asyncio.sleep(0.2)
            print(f"\nmessages sent {sent:,}, recorded by the service {recorded:,.0f} (dotimely_recorder_messages_total)")
            return verdict(result.samples) and recorded >= sent
        finally:
            if worker is not None:
                await worker.stop()
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(child.wait(), 30)
                except TimeoutError:
                    child.kill()
                    await child.wait()
            service_log.close()
            await prosody.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the load runs")
    parser.add_argument("--rate", type=int, default=DEFAULT_RATE,
                        help=f"messages/s over all rooms (default {DEFAULT_RATE}: half of {SATURATION}, the "
                             "saturation bench/README.md reports for our rooms)")
    parser.add_argument("--rooms", type=int, default=50, help="rooms of 3 members, one business each")
    parser.add_argument("--mark-every", type=int, default=4,
                        help="a displayed marker from the room's staff member after every Nth message (0: none)")
    parser.add_argument("--sample-seconds", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--serve", metavar="CONFIG_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    logging.basicConfig(level=logging.ERROR)
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
