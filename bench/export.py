"""Export benchmark: a business with N messages in its rooms, exported as JSON Lines and as HTML.

Starts a Prosody from the generated config and the whole service (bench/harness.py), opens R appointment
rooms through the API, posts N groupchat messages into them through Prosody (from the component's observer
occupant, over the component link: clients' c2s rate limit would make this take hours), then times
GET /v1/businesses/{b}/export for both formats, read as a stream by a client, and prints duration,
messages/s, bytes and the service process's resident memory before and at its peak during each export
(sampled every 20 ms; the service runs in this process).
Run: .venv/bin/python bench/export.py [--messages 100000] [--rooms 40]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import time
from pathlib import Path

import aiohttp
from harness import running_service  # bench/ is on sys.path when run as a script

CUSTOMERS = 20


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sample_peak(stop: asyncio.Event, peak: list[float]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mib())
        await asyncio.sleep(0.02)


async def run(messages: int, rooms: int) -> None:
    async with running_service() as (config, _prosody, service):
        headers = {"Authorization": f"Bearer {config.api.token}"}
        base = f"{config.http.api_public_url}/v1/businesses/bench"
        async with aiohttp.ClientSession(headers=headers) as http:
            await (await http.put(base, json={"name": "Bench Salon"})).release()
            for person, role in [("owner", "owner"), ("s0", "staff")] + [
                    (f"c{i}", "customer") for i in range(CUSTOMERS)]:
                await (await http.put(f"{base}/people/{person}", json={"role": role,
                                                                        "display_name": person})).release()
            when = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
            jids = []
            for i in range(rooms):
                await (await http.put(f"{base}/appointments/a{i}", json={
                    "customer": f"c{i % CUSTOMERS}", "staff": "s0", "duration_minutes": 30,
                    "starts_at": (when + dt.timedelta(minutes=30 * i)).isoformat(),
                    "service_name": "Haircut"})).release()
                async with http.post(f"{base}/conversations", json={"initiator": f"c{i % CUSTOMERS}",
                                                                     "appointment": f"a{i}"}) as response:
                    jids.append((await response.json())["jid"])

            started = time.perf_counter()
            component, observer = service.component, service.muc.observer
            for n in range(messages):
                room = jids[n % rooms]
                component.make_message(mto=room, mfrom=observer, mtype="groupchat",
                                       mbody=f"Message {n} <with> some text & a bit more, as people write").send()
                if n % 1000 == 999:
                    await service.muc.send_notice(room, "sync")  # its echo: Prosody archived all before it
            await service.muc.send_notice(jids[0], "sync")
            posted = time.perf_counter() - started
            print(f"posted {messages:,} messages into {rooms} rooms through Prosody in {posted:.1f} s "
                  f"({messages / posted:,.0f}/s)")

            for fmt in ("jsonl", "html"):
                before, peak, stop = rss_mib(), [0.0], asyncio.Event()
                cpu, prosody_cpu = time.process_time(), _prosody.cpu()
                sampler = asyncio.create_task(sample_peak(stop, peak))
                started = time.perf_counter()
                size = 0
                async with http.get(f"{base}/export", params={"format": fmt},
                                    timeout=aiohttp.ClientTimeout(total=600)) as response:
                    assert response.status == 200, await response.text()
                    async for chunk in response.content.iter_chunked(256 * 1024):
                        size += len(chunk)
                took = time.perf_counter() - started
                cpu, prosody_cpu = time.process_time() - cpu, _prosody.cpu() - prosody_cpu
                stop.set()
                await sampler
                exported = messages + messages // 1000 + 1 + rooms  # with the sync and welcome notices
                print(f"export {fmt:5}: {took:6.1f} s, {exported / took:8,.0f} messages/s, {size / 2**20:7.1f} MiB; "
                      f"service RSS {before:.0f} MiB before, peak {peak[0]:.0f} MiB during "
                      f"(+{peak[0] - before:.0f} MiB); CPU service {cpu:.1f} s, Prosody {prosody_cpu:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rooms", type=int, default=40)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.messages, args.rooms))


if __name__ == "__main__":
    main()
