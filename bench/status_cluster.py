"""What a second ejabberd node adds on one machine: bench/status.py's room load (rooms of three, the customer
sending, the two others receiving; same lean generator, same "keeps up" rule) on one node and on a two-node
cluster (`ejabberd.nodes`, servers/ejabberd_cluster.py), one after the other in one run.

Erlang's MUC alone: the rooms are made through the admin API (`create_room_with_opts`, members-only and
persistent like ours, then `set_room_affiliation` for the three members), with no component. Our rooms with
the observer need the service on a cluster (`ClusterComponent` in ChatService), which is not wired yet.

Layouts:
  - one node: every room and every member on 127.0.0.1;
  - two nodes, split: room i and its three members on node i % 2 (each node carries half the rooms);
  - two nodes, crossed: room i made on node i % 2, owner and staff there, the customer on the other node
    (every message crosses Erlang distribution, to the room and back to the members).
CPU is printed per node (beam.smp of each; their sum in the "server" column).

Run: .venv/bin/python bench/status_cluster.py [--rooms 50] [--rates 250,500,...] [--live-budget 120]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import bench_config  # bench/ is on sys.path when run as a script
from status import STEP_HEADER, LiveResult, Worker, print_step, sweep_rates

from dotimely_chat.servers.ejabberd_accounts import EjabberdAdminApi
from dotimely_chat.servers.ejabberd_cluster import EjabberdCluster
from dotimely_chat.servers.tls import LocalCA

NODES = ["ejabberd@127.0.0.1", "ejabberd@127.0.0.2"]
LAYOUTS = ("one node", "two nodes, split", "two nodes, crossed")


class NoRecorder:
    """bench/status.py's steps read the recorder's counters; there is none here (bare rooms only)."""

    class Stats:
        messages = flushes = markers = 0
        lags: list[float] = []

    stats = Stats()
    queued = 0


async def call(api: EjabberdAdminApi, command: str, **arguments: Any) -> Any:
    status, body = await api.call(command, **arguments)
    assert status == 200 and body != 1, (command, arguments, status, body)  # 1: an ejabberd command's error
    return body


async def provision(cluster: EjabberdCluster, layout: str, rooms: int) -> tuple[list[dict[str, Any]], list[int],
                                                                               list[str]]:
    """Accounts, rooms and affiliations through the admin API; the generator's users, senders and rooms."""
    config = cluster.config
    domain, service = config.xmpp.domain, config.muc.host
    hosts = [n.config.xmpp.client_interfaces[0] for n in cluster.nodes]
    apis = [EjabberdAdminApi(n.api_url) for n in cluster.nodes]
    users: list[dict[str, Any]] = []
    senders: list[int] = []
    room_jids: list[str] = []
    semaphore = asyncio.Semaphore(8)
    try:
        async def one(i: int) -> list[dict[str, Any]]:
            home = i % len(apis)
            other = (home + 1) % len(apis)
            name = f"bare{i}"
            async with semaphore:
                await call(apis[home], "create_room_with_opts", name=name, service=service, host=domain, options=[
                    {"name": "members_only", "value": "true"}, {"name": "persistent", "value": "true"},
                    {"name": "anonymous", "value": "false"}])
                members = []
                for key, affiliation in (("owner", "admin"), ("staff", "member"), ("customer", "member")):
                    localpart, password = f"{key[0]}{i}-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
                    await call(apis[0], "register", user=localpart, host=domain, password=password)
                    await call(apis[home], "set_room_affiliation", name=name, service=service,
                               jid=f"{localpart}@{domain}", affiliation=affiliation)
                    node = other if key == "customer" and layout.endswith("crossed") else home
                    members.append({"jid": f"{localpart}@{domain}", "password": password, "nick": key,
                                    "host": hosts[node], "rooms": [f"{name}@{service}"],
                                    "sends": [i] if key == "customer" else []})
                return members

        for members in await asyncio.gather(*(one(i) for i in range(rooms))):
            senders.append(len(users) + 2)
            users.extend(members)
            room_jids.append(members[0]["rooms"][0])
    finally:
        for api in apis:
            await api.close()
    return users, senders, room_jids


async def one_layout(args: argparse.Namespace, layout: str) -> LiveResult:
    result = LiveResult(rooms=args.rooms, server=f"ejabberd, {layout}")
    with tempfile.TemporaryDirectory(prefix="dotimely-bench-") as tmp:
        Path(tmp).chmod(0o711)  # the ejabberd user reaches its spools
        config = bench_config("ejabberd", Path(tmp), nodes=NODES if layout.startswith("two") else None)
        cluster = EjabberdCluster(config)
        await cluster.start()
        worker: Worker | None = None
        try:
            started = time.perf_counter()
            users, senders, room_jids = await provision(cluster, layout, args.rooms)
            worker = await Worker.start()
            await worker.call({"cmd": "setup", "host": "127.0.0.1", "port": config.xmpp.client_port,
                               "domain": config.xmpp.domain,
                               "cafile": str(LocalCA.in_state(config.state_directory).certificate),
                               "users": users, "senders": senders, "rooms": {"bare": room_jids}})
            result.setup_seconds = time.perf_counter() - started
            print(f"{result.server}: {args.rooms} rooms and {len(users)} clients set up in "
                  f"{result.setup_seconds:.1f} s", flush=True)
            pids = [node.process.pid for node in cluster.nodes if node.process is not None]
            await sweep_rates(args, NoRecorder(), worker, pids, "", result, kinds=("bare",))
        finally:
            if worker is not None:
                await worker.stop()
            await cluster.stop()
    return result


def report(results: list[LiveResult]) -> None:
    print("\n" + "=" * 110)
    for result in results:
        print(f"\n== {result.server} ({result.rooms} rooms of 3, one sender per room) ==")
        print(STEP_HEADER)
        for step in result.steps:
            print_step(step)
            if len(step.node_cpu) > 1:
                print(f"{'':18}per node: " + ", ".join(
                    f"{NODES[i].split('@')[1]} {100 * cpu / step.wall:.0f}%" for i, cpu in enumerate(step.node_cpu)))
    print("\nsaturation (p99 < 200 ms, every copy, schedule held):")
    one = next((r.saturation.get("bare") for r in results if r.server.endswith(LAYOUTS[0])), None)
    for result in results:
        rate = result.saturation.get("bare")
        ratio = f"  ({rate / one:.2f} of one node)" if rate and one else ""
        print(f"  {result.server:32} {rate or 'none of the rates'} msg/s{ratio}")


async def run(args: argparse.Namespace) -> None:
    results = []
    for layout in args.layouts:
        print(STEP_HEADER, flush=True)
        results.append(await one_layout(args, layout))
    report(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=50, help="rooms (3 members each)")
    parser.add_argument("--rates", type=lambda s: [int(x) for x in s.split(",")],
                        default=[250, 375, 500, 625, 750, 1000, 1250, 1500, 2000], help="offered rates, increasing")
    parser.add_argument("--step-seconds", type=float, default=4.0, help="sending time per step")
    parser.add_argument("--live-budget", type=float, default=120.0, help="seconds for each layout's sweep")
    parser.add_argument("--layouts", type=lambda s: [LAYOUTS[int(x)] for x in s.split(",")],
                        default=list(LAYOUTS), help="which layouts, by index: 0 one node, 1 split, 2 crossed")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
