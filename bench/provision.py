"""Provisioning benchmark: a business with N customers through the HTTP API, rosters included.

Starts a Prosody from the generated config and the whole service on free loopback ports in a temp dir,
then in the same run measures:
  1. native: Prosody creating N accounts through XEP-0133 alone (the server feature we build on),
  2. ours: N customers PUT through the HTTP API (account + directory + the owner's and the customer's
     rosters), at a given concurrency,
  3. the reconciliation after a reconnect: the owner's roster of N contacts must not be pushed again,
     and no display name (PEP nick and vCard) published again.
Prints the figures and the ratio ours/native. Run: .venv/bin/python bench/provision.py [--customers N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import time
from pathlib import Path

import aiohttp
from harness import running_service  # bench/ is on sys.path when run as a script


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(customers: int, concurrency: int) -> None:
    async with running_service() as (config, prosody, service):
        assert prosody.process is not None
        prosody_pid = prosody.process.pid
        domain = config.xmpp.domain
        semaphore = asyncio.Semaphore(concurrency)

        async def native(i: int) -> None:
            async with semaphore:
                await service.accounts.create_account(f"native{i}@{domain}", secrets.token_urlsafe(12))

        started = time.perf_counter()
        await asyncio.gather(*(native(i) for i in range(customers)))
        native_s = time.perf_counter() - started

        headers = {"Authorization": f"Bearer {config.api.token}"}
        base = f"{config.http.api_public_url}/v1/businesses/bench"
        async with aiohttp.ClientSession(headers=headers) as http:
            await (await http.put(base, json={"name": "Bench Salon"})).release()
            owner = await (await http.put(f"{base}/people/owner", json={
                "role": "owner", "display_name": "Owner"})).json()

            async def ours(i: int) -> None:
                async with semaphore:
                    async with http.put(f"{base}/people/c{i}", json={
                            "role": "customer", "display_name": f"Customer {i}"}) as response:
                        body = await response.json()
                        assert response.status == 201 and body["roster_synced"], body

            started, cpu_before = time.perf_counter(), (process_cpu(prosody_pid), time.process_time())
            await asyncio.gather(*(ours(i) for i in range(customers)))
            ours_s = time.perf_counter() - started
            prosody_cpu = process_cpu(prosody_pid) - cpu_before[0]
            our_cpu = time.process_time() - cpu_before[1]

        roster = await service.rosters.gateway.get_roster(owner["jid"])
        started = time.perf_counter()
        unchanged = await service.rosters.reconcile_all()
        reconcile_s = time.perf_counter() - started
        started = time.perf_counter()
        names_pushed = await service.names.reconcile_all()
        names_s = time.perf_counter() - started

    print(f"customers                       {customers} (concurrency {concurrency})")
    print(f"native  XEP-0133 accounts only  {native_s:7.2f} s  {customers / native_s:8.1f} /s")
    print(f"ours    API: account+directory+rosters {ours_s:7.2f} s  {customers / ours_s:8.1f} /s"
          f"   (target: under 60 s for 2,000)")
    print(f"ratio   ours/native rate        {native_s / ours_s:7.2f}")
    print(f"CPU during ours                 Prosody {prosody_cpu:6.1f} s, component {our_cpu:6.1f} s "
          f"(of {ours_s:.1f} s wall)")
    print(f"owner's roster on the server    {len(roster)} entries (customers + component)")
    print(f"reconcile after reconnect       {reconcile_s:7.2f} s, entries pushed again: "
          f"{unchanged.set}, removed: {unchanged.removed}, failures: {unchanged.failed}")
    print(f"names after reconnect           {names_s:7.2f} s, names published again: {names_pushed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.customers, args.concurrency))


if __name__ == "__main__":
    main()
