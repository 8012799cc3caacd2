"""Provisioning benchmark: a business with N customers through the HTTP API, rosters included.

Starts the XMPP server (Prosody, or one ejabberd node: --server) from the generated config and the whole
service on free loopback ports in a temp dir, then in the same run measures:
  1. native: the server creating N accounts alone (Prosody: XEP-0133; ejabberd: the admin API's `register`),
     the server feature we build on,
  2. ours: N customers PUT through the HTTP API (account + directory + the owner's and the customer's
     rosters), at a given concurrency,
  3. the reconciliation after a reconnect: the owner's roster of N contacts must not be pushed again,
     and no display name (PEP nick and vCard) published again.
Prints the figures and the ratio ours/native.
Run: .venv/bin/python bench/provision.py [--customers N] [--server prosody|ejabberd|both]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import time

import aiohttp
from harness import add_server_argument, running_service, servers_of  # bench/ is on sys.path as a script
from status import api_call


async def run(customers: int, concurrency: int, kind: str) -> None:
    async with running_service(kind) as (config, server, service):
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

            retried: list[str] = []

            async def ours(i: int) -> None:
                async with semaphore:
                    body = await api_call(http, f"{base}/people/c{i}", "PUT",
                                          {"role": "customer", "display_name": f"Customer {i}"}, retried)
                    assert body["roster_synced"], body

            started, cpu_before = time.perf_counter(), (server.cpu(), time.process_time())
            await asyncio.gather(*(ours(i) for i in range(customers)))
            ours_s = time.perf_counter() - started
            server_cpu = server.cpu() - cpu_before[0]
            our_cpu = time.process_time() - cpu_before[1]

        roster = await service.rosters.gateway.get_roster(owner["jid"])
        started = time.perf_counter()
        unchanged = await service.rosters.reconcile_all()
        reconcile_s = time.perf_counter() - started
        started = time.perf_counter()
        names_pushed = await service.names.reconcile_all()
        names_s = time.perf_counter() - started

    native_name = "XEP-0133" if kind == "prosody" else "admin API"
    print(f"== {server.name} ==")
    print(f"customers                       {customers} (concurrency {concurrency})")
    print(f"native  {native_name + ' accounts only':23} {native_s:7.2f} s  {customers / native_s:8.1f} /s")
    print(f"ours    API: account+directory+rosters {ours_s:7.2f} s  {customers / ours_s:8.1f} /s"
          f"   (target: under 60 s for 2,000)")
    print(f"ratio   ours/native rate        {native_s / ours_s:7.2f}")
    print(f"CPU during ours                 {server.name} {server_cpu:6.1f} s, component {our_cpu:6.1f} s "
          f"(of {ours_s:.1f} s wall)")
    print(f"503 answers retried             {len(retried)} "
          f"({', '.join(f'{c} x{retried.count(c)}' for c in sorted(set(retried))) or 'none'}; a client retries "
          f"after Retry-After, included in the time)")
    print(f"owner's roster on the server    {len(roster)} entries (customers + component)")
    print(f"reconcile after reconnect       {reconcile_s:7.2f} s, entries pushed again: "
          f"{unchanged.set}, removed: {unchanged.removed}, failures: {unchanged.failed}")
    print(f"names after reconnect           {names_s:7.2f} s, names published again: {names_pushed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    add_server_argument(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for kind in servers_of(args.server):
        asyncio.run(run(args.customers, args.concurrency, kind))


if __name__ == "__main__":
    main()
