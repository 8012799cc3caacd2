"""Appointment rooms benchmark: opening a room end to end, beside the bare MUC operations, in one run.

Starts the XMPP server (Prosody, or one ejabberd node: --server) from the generated config and the whole
service on free loopback ports in a temp dir, and measures:
  1. bare: the MUC operations alone, through the component's gateway: join (creating the room), the owner
     form, and one affiliation IQ for each of the three members;
  2. ours: POST /v1/businesses/{b}/conversations for a new appointment, end to end (policy, room created and
     configured, affiliations, records, bookmarks and invitations for the three members, notice), one at a
     time, p50/p99;
  3. 1,000 appointments provisioned (PUT) and their rooms opened (POST), at a given concurrency.
Run: .venv/bin/python bench/rooms.py [--rooms 100] [--appointments 1000] [--server prosody|ejabberd|both]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import statistics
import time

import aiohttp
from harness import add_server_argument, running_service, servers_of  # bench/ is on sys.path as a script
from status import api_call

STAFF, CUSTOMERS = 5, 50


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run(rooms: int, appointments: int, concurrency: int, kind: str) -> None:
    async with running_service(kind) as (config, server, service):
        headers = {"Authorization": f"Bearer {config.api.token}"}
        base = f"{config.http.api_public_url}/v1/businesses/bench"
        async with aiohttp.ClientSession(headers=headers) as http:
            await (await http.put(base, json={"name": "Bench Salon"})).release()
            people = [("owner", "owner")] + [(f"s{i}", "staff") for i in range(STAFF)] + [
                (f"c{i}", "customer") for i in range(CUSTOMERS)]
            jids = {}
            for person, role in people:
                async with http.put(f"{base}/people/{person}", json={"role": role, "display_name": person}) as r:
                    jids[person] = (await r.json())["jid"]
            when = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
            retried: list[str] = []  # 503s retried after Retry-After, as a client does (SQLite busy, link lost)

            async def put_appointment(i: int) -> None:
                await api_call(http, f"{base}/appointments/a{i}", "PUT", {
                    "customer": f"c{i % CUSTOMERS}", "staff": f"s{i % STAFF}",
                    "starts_at": (when + dt.timedelta(minutes=30 * i)).isoformat(),
                    "duration_minutes": 30, "service_name": "Haircut"}, retried)

            async def open_room(i: int) -> tuple[float, float]:
                """Seconds until the response, and until the members' bookmarks are published too."""
                started = time.perf_counter()
                room = (await api_call(http, f"{base}/conversations", "POST", {
                    "initiator": f"c{i % CUSTOMERS}", "appointment": f"a{i}"}, retried))["jid"]
                answered = time.perf_counter() - started
                welcome = service.rooms.welcomes.get(room)
                if welcome is not None:
                    await welcome
                return answered, time.perf_counter() - started

            # 1. bare MUC operations, through the gateway
            muc = service.muc
            members = [jids["owner"], jids["s0"], jids["c0"]]
            bare = []
            for i in range(rooms):
                started = time.perf_counter()
                room = f"bare-{i}@{config.muc.host}"
                await muc.open_room(room, f"Bare {i}")
                for member, affiliation in zip(members, ("admin", "member", "member"), strict=True):
                    await muc.set_affiliation(room, member, affiliation)
                bare.append(time.perf_counter() - started)

            # 2. ours, one at a time
            for i in range(rooms):
                await put_appointment(i)
            timings = [await open_room(i) for i in range(rooms)]
            ours, complete = [t[0] for t in timings], [t[1] for t in timings]

            # 3. many appointments and their rooms
            semaphore = asyncio.Semaphore(concurrency)

            async def provision(i: int) -> None:
                async with semaphore:
                    await put_appointment(i)
                    await open_room(i)

            started = time.perf_counter()
            await asyncio.gather(*(provision(i) for i in range(rooms, rooms + appointments)))
            bulk_s = time.perf_counter() - started

    ms = 1000
    print(f"== {server.name} ==")
    print(f"rooms measured one at a time       {rooms}")
    print(f"bare MUC ops (join+form+3 aff)     p50 {percentile(bare, .5) * ms:6.1f} ms  "
          f"p99 {percentile(bare, .99) * ms:6.1f} ms  mean {statistics.mean(bare) * ms:6.1f} ms")
    print(f"ours: POST conversations           p50 {percentile(ours, .5) * ms:6.1f} ms  "
          f"p99 {percentile(ours, .99) * ms:6.1f} ms  mean {statistics.mean(ours) * ms:6.1f} ms"
          f"   (target p50 < 100 ms)")
    print(f"ours incl. bookmarks+invitations   p50 {percentile(complete, .5) * ms:6.1f} ms  "
          f"p99 {percentile(complete, .99) * ms:6.1f} ms  mean {statistics.mean(complete) * ms:6.1f} ms")
    print(f"ratio ours/bare at p50             {percentile(ours, .5) / percentile(bare, .5):6.2f} (response), "
          f"{percentile(complete, .5) / percentile(bare, .5):.2f} (with bookmarks)   (target <= 2)")
    print(f"503 answers retried                {len(retried)} "
          f"({', '.join(f'{c} x{retried.count(c)}' for c in sorted(set(retried))) or 'none'}; included in the times)")
    print(f"{appointments} appointments + rooms (concurrency {concurrency}) {bulk_s:6.1f} s"
          f"  {appointments / bulk_s:6.1f} /s   (target < 30 s for 1,000)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--appointments", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    add_server_argument(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    for kind in servers_of(args.server):
        asyncio.run(run(args.rooms, args.appointments, args.concurrency, kind))


if __name__ == "__main__":
    main()
