"""`dotimely-chat up` as a person runs it: a subprocess with a config file, a client logging in as the
demo owner over TLS, Ctrl-C, and a second run that reuses the state."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import tomllib
from pathlib import Path

import aiohttp
import pytest

from dotimely_chat.servers.prosody_config import ProsodyPaths
from dotimely_chat.servers.prosody_process import ProsodyProcess
from dotimely_chat.servers.tls import LocalCA

from ..conftest import ClientFactory, config_document, requires_prosody

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Ctrl-C stops everything."


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)  # strings and ints are valid TOML in JSON form


def write_config(path: Path, doc: dict) -> None:
    """The shipped config.toml with the test's ports and paths (example secrets kept: `up` replaces them)."""
    shipped = tomllib.loads((ROOT / "config.toml").read_text())
    for section, values in doc.items():
        if isinstance(values, dict):
            if section in ("component", "api"):
                values = {k: v for k, v in values.items() if k not in ("secret", "token")}
            shipped.setdefault(section, {}).update(values)
        else:
            shipped[section] = values
    lines = [f"{k} = {_toml_value(v)}" for k, v in shipped.items() if not isinstance(v, dict)]
    for section, values in shipped.items():
        if isinstance(values, dict):
            lines += [f"[{section}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")


class UpProcess:
    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []

    async def start(self, timeout: float = 60) -> str:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dotimely_chat", "--config", str(self.config_path), "up",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.process.stdout is not None

        async def read_until_ready() -> str:
            while True:
                raw = await self.process.stdout.readline()  # type: ignore[union-attr]
                if not raw:
                    raise AssertionError("up exited early:\n" + "".join(self.output))
                self.output.append(raw.decode())
                if READY_LINE in self.output[-1]:
                    return "".join(self.output)

        return await asyncio.wait_for(read_until_ready(), timeout)

    async def interrupt(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(self.process.communicate(), timeout)
        self.output.append(rest.decode())
        return self.process.returncode  # type: ignore[return-value]


def owner_credentials(banner: str) -> tuple[str, str]:
    match = re.search(r"owner\s+(\S+@\S+)\s+password (\S+)", banner)
    assert match, banner
    return match.group(1), match.group(2)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


@requires_prosody
async def test_up_runs_the_demo_a_client_logs_in_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    doc = config_document(tmp_path / "state")
    config_path = tmp_path / "config.toml"
    write_config(config_path, doc)
    up, again = UpProcess(config_path), UpProcess(config_path)
    try:
        banner = await up.start()
        jid, password = owner_credentials(banner)
        assert jid == f"olivia@{doc['xmpp']['domain']}"
        assert f"port {doc['xmpp']['client_port']}" in banner
        token = re.search(r"token: (\S+)", banner).group(1)  # type: ignore[union-attr]
        assert token != "example-api-token"
        # One printed command trusts the demo CA that signs both the XMPP server's and the upload host's
        # certificate (Gajim checks attachments' HTTPS against the system's store).
        ca = LocalCA.in_state(tmp_path / "state")
        assert ca.trust_command() in banner and ca.certificate.exists()
        assert "/usr/local/share/ca-certificates/" in banner and "update-ca-certificates" in banner

        # A client logs in as the demo owner over verified TLS and finds the component.
        from dotimely_chat.config import load_config

        config = load_config(config_path)
        prosody = ProsodyProcess(config)
        clients = ClientFactory(prosody)
        client = await clients.connect(jid, password)
        items = await client.plugin["xep_0030"].get_items(jid=doc["xmpp"]["domain"], timeout=10)
        found = {item[0] for item in items["disco_items"]["items"]}
        assert doc["component"]["jid"] in found
        # The owner's roster holds the demo business, grouped and named, and the component.
        roster = (await client.get_roster())["roster"]["items"]
        groups = {str(jid).split("@")[0]: (item["name"], sorted(item["groups"]), item["subscription"])
                  for jid, item in roster.items()}
        assert groups["sam"] == ("Sam Stylist", ["Staff"], "both")
        assert groups["carl"] == ("Carl Customer", ["Customers"], "both")
        assert len([g for g in groups.values() if g[1] == ["Customers"]]) == 3
        assert doc["component"]["jid"] in roster
        await clients.close()

        api = doc["http"]["api_public_url"]
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            async with http.get(f"{api}/healthz") as response:
                assert response.status == 200
            async with http.get(f"{api}/v1/businesses/demo-salon") as response:
                business = await response.json()
        assert business["people"] == {"owner": 1, "staff": 2, "customer": 3}

        pid = int(ProsodyPaths.in_state(config.state_directory).pidfile.read_text())
        assert await up.interrupt() == 0
        assert not _pid_alive(pid), "Prosody is still running after Ctrl-C"

        # A second `up` reuses the state: same secrets, same accounts, no duplicate business.
        banner2 = await again.start()
        assert owner_credentials(banner2) == (jid, password)
        assert re.search(r"token: (\S+)", banner2).group(1) == token  # type: ignore[union-attr]
        client = await clients.connect(jid, password)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            async with http.get(f"{api}/v1/businesses") as response:
                assert [b["id"] for b in (await response.json())["businesses"]] == ["demo-salon"]
        await clients.close()
        assert await again.interrupt() == 0
    finally:
        for process in (up.process, again.process):
            if process and process.returncode is None:
                process.kill()
                await process.wait()


@requires_prosody
async def test_up_refuses_a_busy_port_with_a_clear_message(tmp_path: Path) -> None:
    doc = config_document(tmp_path / "state")
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", doc["xmpp"]["client_port"])
    try:
        write_config(tmp_path / "config.toml", doc)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dotimely_chat", "--config", str(tmp_path / "config.toml"), "up",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        server.close()
    assert process.returncode == 1
    assert f"{doc['xmpp']['client_port']}" in err.decode() and "already in use" in err.decode()
    assert "Traceback" not in err.decode()


@pytest.mark.parametrize("command", ["server-config prosody"])
def test_server_config_prints_the_same_config_up_writes(tmp_path: Path, command: str) -> None:
    import subprocess

    doc = config_document(tmp_path / "state")
    write_config(tmp_path / "config.toml", doc)
    result = subprocess.run([sys.executable, "-m", "dotimely_chat", "--config", str(tmp_path / "config.toml"),
                             *command.split()], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    secrets_file = json.loads((tmp_path / "state" / "secrets.json").read_text())
    assert f'component_secret = "{secrets_file["component.secret"]}"' in result.stdout
    assert f'VirtualHost "{doc["xmpp"]["domain"]}"' in result.stdout


@requires_prosody
async def test_component_command_runs_alone_against_a_server_run_elsewhere(
    tmp_path: Path, prosody_factory,  # type: ignore[no-untyped-def]
) -> None:
    prosody = await prosody_factory()
    config = prosody.config
    doc = config_document(tmp_path / "component-state")
    for section in ("xmpp", "component", "muc", "api"):
        doc[section] = {}
    doc["xmpp"] = {"domain": config.xmpp.domain, "client_port": config.xmpp.client_port,
                   "http_port": config.xmpp.http_port}
    doc["component"] = {"jid": config.component.jid, "port": config.component.port,
                        "secret": config.component.secret}
    doc["muc"] = {"host": config.muc.host}
    doc["api"] = {"token": config.api.token}
    doc["demo"] = {"enabled": False}
    lines = [f'state_directory = "{doc.pop("state_directory")}"']
    for section, values in doc.items():
        lines += [f"[{section}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    (tmp_path / "config.toml").write_text("\n".join(lines) + "\n")

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dotimely_chat", "--config", str(tmp_path / "config.toml"), "component",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT)
    try:
        api = doc["http"]["api_public_url"]
        status = 0
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"{api}/healthz") as response:
                        status = response.status
                except aiohttp.ClientConnectionError:
                    status = 0
                if status == 200:
                    break
                await asyncio.sleep(0.1)
        assert status == 200
        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, output.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_component_command_refuses_example_secrets_outside_demo_mode(tmp_path: Path) -> None:
    import subprocess

    text = (ROOT / "config.toml").read_text().replace("enabled = true", "enabled = false")
    text = text.replace('state_directory = "state"', f'state_directory = "{tmp_path / "state"}"')
    (tmp_path / "config.toml").write_text(text)
    result = subprocess.run([sys.executable, "-m", "dotimely_chat", "--config", str(tmp_path / "config.toml"),
                             "component"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert "'component.secret'" in result.stderr and "demo.enabled" in result.stderr
    assert "Traceback" not in result.stderr
