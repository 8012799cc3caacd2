"""Faults around `dotimely-chat up`, run as a person runs it (a subprocess): a second instance on the same
state or the same server harms nothing and exits with the reason; a killed Prosody is restarted (the same
printed password works again) and repeated failures end `up` with the reason."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import ssl
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from dotimely_chat.config import Config, load_config
from dotimely_chat.servers.prosody_config import ProsodyPaths
from dotimely_chat.servers.prosody_process import ProsodyProcess

from ..support.clients import ClientFactory
from ..support.config import config_document, requires_prosody
from ..support.up import ROOT, UpProcess, owner_credentials, pid_alive, toml_value, write_config

WAIT = 30.0


class WatchedUp(UpProcess):
    """`up` whose output keeps being read after the banner (a full pipe would block its logging)."""

    _reader: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 60) -> str:
        banner = await super().start(timeout)
        self._reader = asyncio.create_task(self._read_rest())
        return banner

    async def _read_rest(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while raw := await self.process.stdout.readline():
            self.output.append(raw.decode())

    async def wait_for_line(self, text: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.output):
            assert time.monotonic() < deadline, f"no line with {text!r} in:\n{''.join(self.output)}"
            await asyncio.sleep(0.1)

    async def exited(self, timeout: float = WAIT) -> int:
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return code

    async def interrupt(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return await self.exited(timeout)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()


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


def prosody_pid(config: Config) -> int:
    return int(ProsodyPaths.in_state(config.state_directory).pidfile.read_text())


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
    """A `component` with a state of its own, against the Prosody of a running `up` (its JID and secret)."""
    secrets_file = json.loads((up_config.state_directory / "secrets.json").read_text())
    doc = config_document(directory / "state")
    doc["xmpp"] = {"domain": up_config.xmpp.domain, "client_port": up_config.xmpp.client_port,
                   "http_port": up_config.xmpp.http_port}
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


@requires_prosody
async def test_a_second_instance_refuses_to_start_and_the_first_ones_upload_completes(tmp_path: Path) -> None:
    config_path = tmp_path / "config.toml"
    write_config(config_path, config_document(tmp_path / "state"))
    up = WatchedUp(config_path)
    clients: ClientFactory | None = None
    try:
        jid, password = owner_credentials(await up.start())
        config = load_config(config_path)
        pid = prosody_pid(config)
        clients = ClientFactory(ProsodyProcess(config))
        owner = await clients.connect(jid, password, "xep_0363")
        size = 8 * 1024**2
        slot = (await owner.plugin["xep_0363"].request_slot(config.component.jid, "clip.mp4", size, "video/mp4",
                                                              timeout=10))["http_upload_slot"]
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

        tls = ssl.create_default_context(cafile=str(ProsodyPaths.in_state(config.state_directory).certificate))
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
            code, output = await run_command(config_path, "up")
            assert code == 1, output
            assert "another dotimely-chat (pid " in output and str(config.state_directory) in output, output
            assert "Traceback" not in output
            # Another state, the same server: the server refuses its component; it says so and exits.
            code, output = await run_command(component_config_beside(config, tmp_path / "second"), "component")
            assert code == 1, output
            assert "another component is already connected" in output and "Traceback" not in output, output

            assert sorted(partial_dir.iterdir()) == partials, "the first one's upload in progress was touched"
            assert prosody_pid(config) == pid and pid_alive(pid)
            go_on.set()
            async with await put as answer:
                assert answer.status == 201, await answer.text()
            async with http.get(url, ssl=tls) as answer:
                assert hashlib.sha256(await answer.read()).digest() == hashlib.sha256(body).digest()
        assert await healthz(config) == 200
        assert not any("conflict" in line for line in up.output), "the first one's link was disturbed"
        assert await up.interrupt() == 0
    finally:
        if clients is not None:
            await clients.close()
        await up.kill()


@requires_prosody
async def test_a_killed_prosody_is_restarted_and_repeated_failures_end_up_with_the_reason(
    tmp_path: Path,
) -> None:
    config_path = tmp_path / "config.toml"
    write_config(config_path, config_document(tmp_path / "state"))
    up = WatchedUp(config_path)
    clients: ClientFactory | None = None
    busy: asyncio.Server | None = None
    try:
        jid, password = owner_credentials(await up.start())
        config = load_config(config_path)
        clients = ClientFactory(ProsodyProcess(config))
        client = await clients.connect(jid, password)
        client.disconnect()

        first = prosody_pid(config)
        os.kill(first, signal.SIGKILL)
        await up.wait_for_line("restarting it in")
        await up.wait_for_line("Prosody restarted")
        second = prosody_pid(config)
        assert second != first and pid_alive(second)
        await eventually_healthy(config)  # the component is back on the new Prosody
        await clients.connect(jid, password)  # the printed password still works
        await clients.close()

        # Killed again, and its client port taken meanwhile: every restart fails; `up` gives up and says why.
        os.kill(second, signal.SIGKILL)
        while pid_alive(second):
            await asyncio.sleep(0.01)
        busy = await asyncio.start_server(lambda r, w: w.close(), config.xmpp.client_interfaces[0],
                                          config.xmpp.client_port)
        assert await up.exited(timeout=60) == 1
        output = "".join(up.output)
        assert "giving up after 5 failures in a row" in output, output
        assert "already in use" in output and "was killed by SIGKILL" in output
        assert "Traceback" not in output
    finally:
        if busy is not None:
            busy.close()
        if clients is not None:
            await clients.close()
        await up.kill()


