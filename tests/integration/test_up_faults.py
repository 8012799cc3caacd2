"""Faults around `dotimely-chat up`, run as a person runs it (a subprocess), on Prosody and on ejabberd: a
second instance on the same state or the same server harms nothing and exits with the reason; a killed
server (only the one `up` started: its PID file, checked to be up's child) is restarted (the same printed
password works again) and repeated failures end `up` with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import ssl
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from dotimely_chat.config import Config, load_config
from dotimely_chat.servers.tls import LocalCA

from ..support.clients import clients_for
from ..support.config import config_document
from ..support.ejabberd import reachable_temp_dir
from ..support.up import (ROOT, WatchedUp, leave_no_server, owner_credentials, pid_alive, server_of, server_pid,
                          toml_value, up_document, write_config)

pytestmark = pytest.mark.servers("prosody", "ejabberd")

WAIT = 30.0


async def run_command(config_path: Path, command: str, timeout: float = 90) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dotimely_chat", "--config", str(config_path), command,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, output.decode()  # type: ignore[return-value]


async def healthz(config: Config) -> int:
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{config.http.api_public_url}/healthz") as answer:
            return answer.status
    except aiohttp.ClientConnectionError:
        return 0


async def eventually_healthy(config: Config, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while await healthz(config) != 200:
        assert time.monotonic() < deadline, "/healthz did not come back to 200"
        await asyncio.sleep(0.2)


def component_config_beside(up_config: Config, directory: Path) -> Path:
    """A `component` with a state of its own, against the server of a running `up` (its JID and secret; on
    ejabberd its node and admin API too)."""
    secrets_file = json.loads((up_config.state_directory / "secrets.json").read_text())
    doc = config_document(directory / "state")
    doc["xmpp"] = {"server": up_config.xmpp.server, "domain": up_config.xmpp.domain,
                   "client_port": up_config.xmpp.client_port, "http_port": up_config.xmpp.http_port}
    if up_config.xmpp.server == "ejabberd":
        e = up_config.ejabberd
        doc["ejabberd"] = {"node": e.node, "distribution_port": e.distribution_port,
                           "admin_api_port": e.admin_api_port}
    doc["component"] = {"jid": up_config.component.jid, "port": up_config.component.port,
                        "secret": secrets_file["component.secret"]}
    doc["muc"] = {"host": up_config.muc.host}
    doc["demo"] = {"enabled": False}
    lines = [f'state_directory = "{doc.pop("state_directory")}"']
    for section, values in doc.items():
        lines += [f"[{section}]"] + [f"{k} = {toml_value(v)}" for k, v in values.items()]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def up_folder() -> Iterator[Path]:
    """A folder for `up`'s config and state that the ejabberd user can reach (pytest's tmp_path is 0700)."""
    with reachable_temp_dir() as folder:
        yield folder


@contextlib.asynccontextmanager
async def running_up(folder: Path, kind: str) -> AsyncIterator[tuple[WatchedUp, Config, str]]:
    """`up` on `kind` in `folder`: the process, its config and its banner; killed after a failed test, with
    no server of its state left."""
    config_path = folder / "config.toml"
    write_config(config_path, up_document(folder / "state", kind))
    up = WatchedUp(config_path)
    try:
        banner = await up.start(timeout=90)
        yield up, load_config(config_path), banner
    finally:
        await up.kill()
        leave_no_server(load_config(config_path))


async def test_a_second_instance_refuses_to_start_and_the_first_ones_upload_completes(
    up_folder: Path, xmpp_kind: str
) -> None:
    async with running_up(up_folder, xmpp_kind) as (up, config, banner):
        assert up.process is not None
        jid, password = owner_credentials(banner)
        pid = server_pid(config, up.process.pid)
        clients = clients_for(server_of(config))
        try:
            owner = await clients.connect(jid, password, "xep_0363")
            size = 8 * 1024**2
            slot = (await owner.plugin["xep_0363"].request_slot(config.component.jid, "clip.mp4", size,
                                                                  "video/mp4", timeout=10))["http_upload_slot"]
            url = slot["put"]["url"]
            headers = {h["name"]: h["value"] for h in slot["put"]["headers"]}
            chunk = os.urandom(64 * 1024)
            body = chunk * (size // len(chunk))
            half_sent, go_on = asyncio.Event(), asyncio.Event()

            async def slow_body() -> AsyncIterator[bytes]:
                for index in range(0, size, len(chunk)):
                    if index == size // 2:
                        half_sent.set()
                        await go_on.wait()
                    yield body[index:index + len(chunk)]

            tls = ssl.create_default_context(cafile=str(LocalCA.in_state(config.state_directory).certificate))
            async with aiohttp.ClientSession() as http:
                put = asyncio.create_task(http.put(url, data=slow_body(), ssl=tls, headers={
                    **headers, "Content-Type": "video/mp4", "Content-Length": str(size)}))
                await asyncio.wait_for(half_sent.wait(), WAIT)
                partial_dir = config.upload_directory / "partial"
                deadline = time.monotonic() + WAIT
                while not any(partial_dir.iterdir()):
                    assert time.monotonic() < deadline, "the upload never reached the disk"
                    await asyncio.sleep(0.05)
                partials = sorted(partial_dir.iterdir())

                # The same state: refused at once, with the holder named, before it touches anything.
                code, output = await run_command(up.config_path, "up")
                assert code == 1, output
                assert "another dotimely-chat (pid " in output and str(config.state_directory) in output, output
                assert "Traceback" not in output
                # Another state, the same server: the server refuses its component; it says so and exits.
                second = component_config_beside(config, up_folder / "second")
                code, output = await run_command(second, "component")
                assert code == 1, output
                assert "another component is already connected" in output and "Traceback" not in output, output

                assert sorted(partial_dir.iterdir()) == partials, "the first one's upload in progress was touched"
                assert server_pid(config, up.process.pid) == pid and pid_alive(pid)
                go_on.set()
                async with await put as answer:
                    assert answer.status == 201, await answer.text()
                async with http.get(url, ssl=tls) as answer:
                    assert hashlib.sha256(await answer.read()).digest() == hashlib.sha256(body).digest()
            assert await healthz(config) == 200
            disturbed = [line for line in up.output if "conflict" in line or "Lost the link" in line
                         or "is lost" in line]
            assert disturbed == [], "the first one's link was disturbed"
        finally:
            await clients.close()
        assert await up.interrupt() == 0


async def test_a_killed_server_is_restarted_and_repeated_failures_end_up_with_the_reason(
    up_folder: Path, xmpp_kind: str
) -> None:
    busy: asyncio.Server | None = None
    async with running_up(up_folder, xmpp_kind) as (up, config, banner):
        assert up.process is not None
        name = "ejabberd" if xmpp_kind == "ejabberd" else "Prosody"
        jid, password = owner_credentials(banner)
        clients = clients_for(server_of(config))
        try:
            client = await clients.connect(jid, password)
            await asyncio.wait_for(client.disconnect(), WAIT)

            first = server_pid(config, up.process.pid)  # up's own child, nothing else
            os.kill(first, signal.SIGKILL)
            seen = await up.wait_for_line("restarting it in", timeout=WAIT)
            restarted = await up.wait_for_line(f"{name} restarted", timeout=90, after=seen)
            second = server_pid(config, up.process.pid)
            assert second != first and pid_alive(second)
            await eventually_healthy(config, timeout=60)  # the component is back on the new server
            client = await clients.connect(jid, password)  # the printed password still works
            await asyncio.wait_for(client.disconnect(), WAIT)

            # Killed again, and its client port taken meanwhile: every restart fails; `up` gives up and says why.
            # The port is free once `up` has reaped it (ejabberd's VM has threads: its main thread is a zombie
            # while others still hold the listening sockets); the next start comes a second later.
            os.kill(second, signal.SIGKILL)
            await up.wait_for_line("restarting it in", timeout=WAIT, after=restarted)
            busy = await asyncio.start_server(lambda r, w: w.close(), config.xmpp.client_interfaces[0],
                                              config.xmpp.client_port)
            assert await up.exited(timeout=60) == 1
            output = "".join(up.output)
            assert "giving up after 5 failures in a row" in output, output
            assert "already in use" in output and "was killed by SIGKILL" in output
            assert f"{name} (pid {second}) was killed by SIGKILL" in output, output
            assert "Traceback" not in output
        finally:
            if busy is not None:
                busy.close()
            await clients.close()
