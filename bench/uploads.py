"""Upload benchmark: XEP-0363 uploads and downloads through our component and through Prosody's
mod_http_file_share in the same run, beside a bare aiohttp server as the machine's reference.

Starts, on free loopback ports in a temp dir:
  - Prosody #1 from the generated config, and the whole service (ChatService) in a child process;
  - Prosody #2 from the same generated config plus a `http_file_share` component on HTTPS (lines appended
    here only);
  - a bare aiohttp server (PUT streamed to disk, GET with FileResponse/sendfile), on HTTPS and on plain HTTP.
Each target gets 200 files of 100 KiB and 10 of 20 MiB at a given concurrency (one XMPP connection per
worker): slot IQ + PUT (bare: PUT only), then GET. Prints MB/s (10^6 bytes/s) each way, the ratios, the
RSS of each server process before the run and at its peak, and its CPU time per file; then the component's
peak RSS while one 1 GiB file goes up and down (flat memory).
Run: .venv/bin/python bench/uploads.py [--small 200] [--large 10] [--concurrency 8] [--no-big]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import signal
import ssl
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
from aiohttp import web
from slixmpp import JID, ClientXMPP

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dotimely_chat.config import Config, parse_config  # noqa: E402
from dotimely_chat.servers import prosody_process  # noqa: E402
from dotimely_chat.servers.prosody_config import ProsodyPaths, lua_str  # noqa: E402
from dotimely_chat.servers.prosody_process import ProsodyProcess  # noqa: E402
from tests.support.config import config_document, free_port  # noqa: E402

KiB, MiB = 1024, 1024**2
UPLOAD_LIMITS = {"max_file_size": "2 GiB", "video_max_size": "2 GiB", "picture_max_size": "64 MiB",
                 "daily_quota": "1000 GiB"}
Uploader = Callable[[str, bytes, str], Awaitable[str]]  # (name, data, type) -> GET URL


# ------------------------------------------------------------------------------------- child processes
async def serve_ours(document_file: str) -> None:
    from dotimely_chat.app import ChatService

    config = parse_config(json.loads(Path(document_file).read_text()), Path(document_file).parent)
    service = ChatService(config)
    await service.start()
    assert await service.component.wait_connected(20)
    await serve_until_stopped(service.stop)


async def serve_bare(directory: str, port: int, cert: str | None, key: str | None) -> None:
    """The reference: PUT streamed to a file, GET with FileResponse (sendfile when not TLS)."""
    root = Path(directory)

    async def put(request: web.Request) -> web.Response:
        with open(root / request.match_info["name"], "wb") as handle:  # noqa: ASYNC230 - as bare as it gets
            async for chunk in request.content.iter_any():
                handle.write(chunk)
        return web.Response(status=201)

    async def get(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(root / request.match_info["name"], chunk_size=256 * KiB)

    app = web.Application(client_max_size=2**40)
    app.router.add_put("/{name}", put)
    app.router.add_get("/{name}", get)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = None
    if cert and key:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    await serve_until_stopped(runner.cleanup)


async def serve_until_stopped(stop: Callable[[], Awaitable[None]]) -> None:
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    print("READY", flush=True)
    await stopped.wait()
    await stop()


async def spawn(*args: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(sys.executable, __file__, *args, stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert line.strip() == b"READY", f"child {args[0]} did not start: {line!r}"
    return process


def peak_rss(pid: int, field: str = "VmHWM") -> float:
    """VmHWM (the peak since reset_peak) or VmRSS (now) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# ----------------------------------------------------------------------------------------- servers
def file_share_lines(config: Config, paths: ProsodyPaths, port: int) -> str:
    """Prosody #2 only: mod_http_file_share on HTTPS (the table form returns to the global scope)."""
    return f"""
Component "share.{config.xmpp.domain}" "http_file_share" {{
    http_file_share_size_limit = {64 * MiB};
    http_file_share_daily_quota = {1000 * 1024 * MiB};
    http_host = "127.0.0.1";
    http_external_url = "https://127.0.0.1:{port}/";
}}
https_ports = {{ {port} }}
https_interfaces = {{ "127.0.0.1" }}
https_ssl = {{ certificate = {lua_str(str(paths.certificate))}; key = {lua_str(str(paths.private_key))} }}
"""


async def start_file_share_prosody(tmp: Path) -> ProsodyProcess:
    config = parse_config(config_document(tmp / "state-share"), tmp)
    port = free_port()
    original = prosody_process.prepare_prosody_files

    def prepare(cfg: Config, paths: ProsodyPaths) -> None:
        original(cfg, paths)
        # Prosody 0.12.3 fails on an option set twice in one scope, so the generated (empty) https_ports
        # goes before the appended lines set it.
        text = paths.config_file.read_text(encoding="utf-8").replace("\nhttps_ports = { }\n", "\n")
        paths.config_file.write_text(text + file_share_lines(cfg, paths, port), encoding="utf-8")

    server = ProsodyProcess(config)
    with mock.patch.object(prosody_process, "prepare_prosody_files", prepare):
        await server.start()
    return server


async def xmpp_client(server: ProsodyProcess, jid: str, password: str) -> ClientXMPP:
    client = ClientXMPP(jid, password)
    for plugin in ("xep_0030", "xep_0363"):
        client.register_plugin(plugin)
    client.ssl_context = ssl.create_default_context(cafile=str(server.paths.certificate))
    started = asyncio.Event()
    client.add_event_handler("session_start", lambda _: started.set())
    client.connect("127.0.0.1", server.config.xmpp.client_port)
    await asyncio.wait_for(started.wait(), 15)
    return client


def xep0363_uploader(clients: list[ClientXMPP], service: str, http: aiohttp.ClientSession) -> Uploader:
    """Slot IQ, then PUT. One client connection per worker: Prosody's c2s rate limit (50 kB/s in the
    generated config) would hold a single connection to about 250 slot requests a second."""
    turn = itertools.cycle(clients)

    async def upload(name: str, data: bytes, ctype: str) -> str:
        client = next(turn)
        iq = await client.plugin["xep_0363"].request_slot(JID(service), name, len(data), ctype, timeout=30)
        slot = iq["http_upload_slot"]
        headers = {h["name"]: h["value"] for h in slot["put"]["headers"]}
        async with http.put(slot["put"]["url"], data=data, headers={**headers, "Content-Type": ctype}) as r:
            assert r.status in (200, 201), (r.status, await r.text())
        return str(slot["get"]["url"])

    return upload


def bare_uploader(base: str, http: aiohttp.ClientSession) -> Uploader:
    async def upload(name: str, data: bytes, ctype: str) -> str:
        async with http.put(f"{base}/{name}", data=data, headers={"Content-Type": ctype}) as r:
            assert r.status == 201
        return f"{base}/{name}"

    return upload


# ---------------------------------------------------------------------------------------- workload
async def workload(label: str, upload: Uploader, http: aiohttp.ClientSession, small: int, large: int,
                   concurrency: int, pid: int) -> dict[str, float]:
    semaphore = asyncio.Semaphore(concurrency)
    small_data, large_data = os.urandom(100 * KiB), os.urandom(20 * MiB)

    async def put(name: str, data: bytes, ctype: str) -> str:
        async with semaphore:
            return await upload(name, data, ctype)

    async def get(url: str, size: int) -> None:
        async with semaphore, http.get(url) as response:
            received = 0
            async for chunk in response.content.iter_chunked(256 * KiB):
                received += len(chunk)
            assert response.status == 200 and received == size, (response.status, received)

    async def timed(jobs: list[Awaitable[Any]]) -> tuple[float, list[Any]]:
        started = time.perf_counter()
        results = await asyncio.gather(*jobs)
        return time.perf_counter() - started, results

    await asyncio.gather(*(put(f"warm{i}-{label}.jpg", small_data, "image/jpeg") for i in range(8)))
    reset_peak(pid)
    figures: dict[str, float] = {"RSS before": peak_rss(pid, "VmRSS")}
    for kind, count, data, ctype, ext in (("100 KiB", small, small_data, "image/jpeg", "jpg"),
                                          ("20 MiB", large, large_data, "video/mp4", "mp4")):
        cpu = cpu_seconds(pid)
        seconds, urls = await timed([put(f"{kind[:3].strip()}-{i}-{label}.{ext}", data, ctype)
                                     for i in range(count)])
        figures[f"PUT {kind}"] = count * len(data) / seconds / 1e6
        figures[f"PUT {kind} CPU"], cpu = (cpu_seconds(pid) - cpu) * 1000 / max(count, 1), cpu_seconds(pid)
        seconds, _ = await timed([get(url, len(data)) for url in urls])
        figures[f"GET {kind}"] = count * len(data) / seconds / 1e6
        figures[f"GET {kind} CPU"] = (cpu_seconds(pid) - cpu) * 1000 / max(count, 1)
    figures["peak RSS"] = peak_rss(pid)
    return figures


def session(cafile: Path | None, concurrency: int) -> aiohttp.ClientSession:
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else False
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency, ssl=context),
                                 timeout=aiohttp.ClientTimeout(total=600))


async def big_file(client: ClientXMPP, service: str, http: aiohttp.ClientSession, pid: int
                   ) -> tuple[float, float, float]:
    """(peak RSS so far, peak RSS during, seconds) for one 1 GiB video up and down through the component."""
    size, block = 1024 * MiB, os.urandom(MiB)

    async def body() -> Any:
        for _ in range(size // MiB):
            yield block

    before = peak_rss(pid)
    reset_peak(pid)
    started = time.perf_counter()
    iq = await client.plugin["xep_0363"].request_slot(JID(service), "big.mp4", size, "video/mp4", timeout=30)
    slot = iq["http_upload_slot"]
    headers = {h["name"]: h["value"] for h in slot["put"]["headers"]}
    async with http.put(slot["put"]["url"], data=body(), headers={
            **headers, "Content-Type": "video/mp4", "Content-Length": str(size)}) as response:
        assert response.status == 201, await response.text()
    async with http.get(slot["get"]["url"]) as response:
        async for _ in response.content.iter_chunked(MiB):
            pass
    return before, peak_rss(pid), time.perf_counter() - started


# -------------------------------------------------------------------------------------------- run
LABELS = {"ours": "ours: component (https)", "prosody": "prosody http_file_share (https)",
          "bare-https": "bare aiohttp (https)", "bare-http": "bare aiohttp (http)"}
COLUMNS = ["PUT 100 KiB", "PUT 20 MiB", "GET 100 KiB", "GET 20 MiB"]


async def person_of_bench_business(config: Config) -> dict[str, Any]:
    api = config.http.api_public_url + "/v1/businesses/bench"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {config.api.token}"}) as http:
        await (await http.put(api, json={"name": "Bench"})).release()
        async with http.put(f"{api}/people/owner", json={"role": "owner", "display_name": "O"}) as response:
            return dict(await response.json())


async def run(small: int, large: int, concurrency: int, big: bool) -> None:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="dotimely-bench-") as tmp_name:
        tmp = Path(tmp_name)
        document = config_document(tmp / "state", upload=UPLOAD_LIMITS)
        (tmp / "config.json").write_text(json.dumps(document))
        config = parse_config(document, tmp)
        ours_prosody = ProsodyProcess(config)
        await ours_prosody.start()
        share_prosody = await start_file_share_prosody(tmp)
        cert, key = ours_prosody.paths.certificate, ours_prosody.paths.private_key
        (tmp / "bare").mkdir()
        bare_ports = free_port(), free_port()
        children = [await spawn("--serve-ours", str(tmp / "config.json")),
                    await spawn("--serve-bare", str(tmp / "bare"), str(bare_ports[0]), str(cert), str(key)),
                    await spawn("--serve-bare", str(tmp / "bare"), str(bare_ports[1]))]
        try:
            person = await person_of_bench_business(config)
            ours_clients = [await xmpp_client(ours_prosody, person["jid"], person["password"])
                            for _ in range(concurrency)]
            share_prosody.register("bench", "bench-password")
            share_clients = [await xmpp_client(share_prosody, f"bench@{config.xmpp.domain}", "bench-password")
                             for _ in range(concurrency)]
            assert share_prosody.process is not None
            share_service = f"share.{config.xmpp.domain}"
            targets: list[tuple[str, Path | None, int, Callable[[aiohttp.ClientSession], Uploader]]] = [
                ("ours", cert, children[0].pid, lambda h: xep0363_uploader(ours_clients, config.component.jid, h)),
                ("prosody", share_prosody.paths.certificate, share_prosody.process.pid,
                 lambda h: xep0363_uploader(share_clients, share_service, h)),
                ("bare-https", cert, children[1].pid,
                 lambda h: bare_uploader(f"https://127.0.0.1:{bare_ports[0]}", h)),
                ("bare-http", None, children[2].pid, lambda h: bare_uploader(f"http://127.0.0.1:{bare_ports[1]}", h)),
            ]
            for label, cafile, pid, make in targets:
                async with session(cafile, concurrency) as http:
                    results[label] = await workload(label, make(http), http, small, large, concurrency, pid)
            if big:
                async with session(cert, concurrency) as http:
                    big_figures = await big_file(ours_clients[0], config.component.jid, http, children[0].pid)
            for client in ours_clients + share_clients:
                client.disconnect()
        finally:
            for child in children:
                child.send_signal(signal.SIGTERM)
                await child.wait()
            await share_prosody.stop()
            await ours_prosody.stop()
    report(results, small, large, concurrency)
    if big:
        before, peak, seconds = big_figures
        print(f"1 GiB up and down through ours: {seconds:.1f} s, component peak RSS during it {peak:.0f} MiB "
              f"(peak of the run before it: {before:.0f} MiB)")


def report(results: dict[str, dict[str, float]], small: int, large: int, concurrency: int) -> None:
    print(f"{small} files of 100 KiB and {large} of 20 MiB, concurrency {concurrency}; MB/s (10^6 bytes/s); "
          "PUT includes the slot request")
    print(f"{'':34}" + "".join(f"{c:>13}" for c in COLUMNS) + "   RSS before -> peak")
    for label, figures in results.items():
        print(f"{LABELS[label]:34}" + "".join(f"{figures[c]:13.1f}" for c in COLUMNS)
              + f"{figures['RSS before']:9.0f} -> {figures['peak RSS']:.0f} MiB")
    print("server process CPU, ms per file (ours: the component's process; Prosody #1's routing of the slot "
          "IQ is not in it, while Prosody's own figure includes its c2s side of the slot)")
    for label, figures in results.items():
        print(f"  {LABELS[label]:32}" + "".join(f"{figures[c + ' CPU']:13.2f}" for c in COLUMNS))
    ours = results["ours"]
    for other in ("prosody", "bare-https", "bare-http"):
        print(f"{'ratio ours/' + other:34}" + "".join(f"{ours[c] / results[other][c]:13.2f}" for c in COLUMNS))
    met = all(ours[c] >= results["prosody"][c] for c in COLUMNS)
    print(f"target ours/prosody >= 1.0: {'met' if met else 'NOT met'}; 20 MiB: ours/bare-http "
          f"PUT {ours['PUT 20 MiB'] / results['bare-http']['PUT 20 MiB']:.2f}, "
          f"GET {ours['GET 20 MiB'] / results['bare-http']['GET 20 MiB']:.2f} (aim >= 0.5)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-ours":
        logging.basicConfig(level=logging.ERROR)
        asyncio.run(serve_ours(sys.argv[2]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-bare":
        cert, key = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)
        asyncio.run(serve_bare(sys.argv[2], int(sys.argv[3]), cert, key))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-big", action="store_true", help="skip the 1 GiB flat-memory check")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(args.small, args.large, args.concurrency, not args.no_big))


if __name__ == "__main__":
    main()
