"""`dotimely-chat up` as a person runs it: a subprocess with a config file, a client logging in as the
demo owner over TLS, Ctrl-C, and a second run that reuses the state."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from dotimely_chat.servers.prosody_config import ProsodyPaths
from dotimely_chat.servers.prosody_process import ProsodyProcess
from dotimely_chat.servers.tls import LocalCA

from ..support.clients import ClientFactory
from ..support.config import config_document, requires_prosody
from ..support.up import ROOT, UpProcess, owner_credentials, pid_alive, toml_value, write_config


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
        assert not pid_alive(pid), "Prosody is still running after Ctrl-C"

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
        lines += [f"[{section}]"] + [f"{k} = {toml_value(v)}" for k, v in values.items()]
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
