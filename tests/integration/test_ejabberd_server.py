"""A real ejabberd 23.01 node from the generated config: clients, the component, accounts, stopping, faults.

The session's node (`ejabberd_server`, tests/conftest.py) on free loopback ports; the fault tests start
short-lived nodes of their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slixmpp import ComponentXMPP

from dotimely_chat.config import parse_config
from dotimely_chat.errors import LinkUnavailable
from dotimely_chat.policies.contacts import ONE_TO_ONE_REFUSAL
from dotimely_chat.servers import child_process, ejabberd_process
from dotimely_chat.servers.accounts import AccountCommandError
from dotimely_chat.servers.ejabberd_accounts import EjabberdAccounts, EjabberdAdminApi
from dotimely_chat.servers.ejabberd_process import EjabberdError, EjabberdProcess, _node_pids

from ..support.config import DOMAIN, config_document, free_port
from ..support.ejabberd import ejabberd_test_config, login, reachable_temp_dir

ROOT = Path(__file__).parents[2]


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    with reachable_temp_dir() as folder:
        yield folder


@pytest.fixture
async def accounts(ejabberd_server: EjabberdProcess) -> AsyncIterator[EjabberdAccounts]:
    api = EjabberdAdminApi(ejabberd_server.api_url)
    yield EjabberdAccounts(api)
    await api.close()


async def test_the_generated_config_starts_a_node_the_admin_api_and_ctl_answer(ejabberd_server: EjabberdProcess) -> None:
    await ejabberd_server.check_admin_api()
    status = await asyncio.to_thread(ejabberd_server.ctl, "status")
    assert "is started with status: started" in status and "ejabberd 23.01" in status
    assert _node_pids(ejabberd_server.paths.spool_dir) == [ejabberd_server.process.pid if ejabberd_server.process else -1]
    if os.geteuid() == 0:
        assert ejabberd_server.run_as is not None and ejabberd_server.run_as.name == "ejabberd"
        assert Path(f"/proc/{ejabberd_server.process.pid if ejabberd_server.process else -1}").stat().st_uid == ejabberd_server.run_as.uid


async def test_client_logs_in_with_starttls_and_a_verified_certificate(
        ejabberd_server: EjabberdProcess, accounts: EjabberdAccounts) -> None:
    jid = f"tls-user@{DOMAIN}"
    assert await accounts.create_account(jid, "first-password")
    client = await login(ejabberd_server, jid, "first-password")
    assert client is not None
    try:
        assert client.transport is not None and client.transport.get_extra_info("peercert") is not None
    finally:
        client.disconnect()


async def test_no_login_is_offered_before_starttls(ejabberd_server: EjabberdProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", ejabberd_server.config.xmpp.client_port)
    try:
        writer.write(f"<?xml version='1.0'?><stream:stream to='{DOMAIN}' xmlns='jabber:client' "
                     "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>".encode())
        features = b""
        while b"</stream:features>" not in features:
            features += await asyncio.wait_for(reader.read(4096), 10)
    finally:
        writer.close()
    assert b"<required/></starttls>" in features
    assert b"mechanisms" not in features
    assert b"urn:xmpp:features:rosterver" in features or b"starttls" in features


async def test_the_web_page_reaches_the_websocket_and_bosh(ejabberd_server: EjabberdProcess) -> None:
    port = ejabberd_server.config.xmpp.http_port
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"ws://127.0.0.1:{port}/xmpp-websocket", protocols=("xmpp",)) as ws:
            await ws.send_str(f'<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="{DOMAIN}" version="1.0"/>')
            assert "<open" in await asyncio.wait_for(ws.receive_str(), 5)
            features = await asyncio.wait_for(ws.receive_str(), 5)
        body = (f"<body rid='1' to='{DOMAIN}' xmlns='http://jabber.org/protocol/httpbind' wait='60' hold='1' "
                "ver='1.6' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>")
        async with http.post(f"http://127.0.0.1:{port}/http-bind", data=body) as reply:
            assert reply.status == 200 and "<mechanism>SCRAM-SHA-1</mechanism>" in await reply.text()
    assert "<mechanism>SCRAM-SHA-1</mechanism>" in features
    assert "X-OAUTH2" not in features


async def test_the_component_connects_and_is_discovered_for_uploads(
        ejabberd_server: EjabberdProcess, accounts: EjabberdAccounts) -> None:
    c = ejabberd_server.config.component
    component = ComponentXMPP(c.jid, c.secret, "127.0.0.1", c.port)
    connected: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    component.add_event_handler("session_start", lambda _: connected.done() or connected.set_result(True))
    component.connect()
    await accounts.ensure_account(f"disco-user@{DOMAIN}", "disco-password")
    client = await login(ejabberd_server, f"disco-user@{DOMAIN}", "disco-password")
    assert client is not None
    try:
        assert await asyncio.wait_for(connected, 10)
        client.register_plugin("xep_0030")
        items = await client.plugin["xep_0030"].get_items(jid=DOMAIN, timeout=10)
        assert c.jid in {item[0] for item in items["disco_items"]["items"]}
    finally:
        client.disconnect()
        component.disconnect()


async def _component(ejabberd_server: EjabberdProcess) -> ComponentXMPP:
    c = ejabberd_server.config.component
    component = ComponentXMPP(c.jid, c.secret, "127.0.0.1", c.port)
    connected: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    component.add_event_handler("session_start", lambda _: connected.done() or connected.set_result(True))
    component.connect()
    await asyncio.wait_for(connected, 10)
    return component


def _first(xmpp: Any, event: str, match: Any) -> asyncio.Future[Any]:
    """The first stanza of `event` for which match(stanza) is true."""
    found: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    xmpp.add_event_handler(event, lambda stanza: match(stanza) and not found.done() and found.set_result(stanza))
    return found


async def test_only_the_component_creates_rooms_and_owns_them(
        ejabberd_server: EjabberdProcess, accounts: EjabberdAccounts) -> None:
    muc = ejabberd_server.config.muc.host
    component = await _component(ejabberd_server)
    await accounts.ensure_account(f"room-user@{DOMAIN}", "room-password")
    client = await login(ejabberd_server, f"room-user@{DOMAIN}", "room-password")
    assert client is not None
    try:
        created = _first(component, "presence", lambda p: p["from"] == f"appt-1@{muc}/DoTimely")
        presence = component.make_presence(pto=f"appt-1@{muc}/DoTimely", pfrom=f"rooms@{ejabberd_server.config.component.jid}")
        presence.append(ET.Element("{http://jabber.org/protocol/muc}x"))
        presence.send()
        answer = await asyncio.wait_for(created, 10)
        x = answer.xml.find("{http://jabber.org/protocol/muc#user}x")
        assert x is not None, answer
        codes = {status.get("code") for status in x.findall("{http://jabber.org/protocol/muc#user}status")}
        assert {"110", "201"} <= codes
        item = x.find("{http://jabber.org/protocol/muc#user}item")
        assert item is not None and item.get("affiliation") == "owner"

        refused = _first(client, "presence", lambda p: p["from"] == f"appt-2@{muc}/Carl")
        attempt = client.make_presence(pto=f"appt-2@{muc}/Carl")
        attempt.append(ET.Element("{http://jabber.org/protocol/muc}x"))
        attempt.send()
        answer = await asyncio.wait_for(refused, 10)
        assert answer["type"] == "error" and answer["error"]["condition"] == "forbidden"  # "denied by service policy"
    finally:
        client.disconnect()
        component.disconnect()


async def test_people_cannot_message_each_other_directly_but_the_component_can(
        ejabberd_server: EjabberdProcess, accounts: EjabberdAccounts) -> None:
    """mod_dotimely_guard (ahead of mod_block_strangers with allow_local_users false) refuses with our text;
    the component passes through `access`."""
    for name in ("staff-a", "cust-a"):
        await accounts.ensure_account(f"{name}@{DOMAIN}", f"{name}-password")
    staff = await login(ejabberd_server, f"staff-a@{DOMAIN}", "staff-a-password")
    customer = await login(ejabberd_server, f"cust-a@{DOMAIN}", "cust-a-password")
    component = await _component(ejabberd_server)
    assert staff is not None and customer is not None
    try:
        customer.send_presence()
        await asyncio.sleep(0.2)
        bounced = _first(staff, "message", lambda m: m["type"] == "error")
        heard = _first(customer, "message", lambda m: m["body"] == "hello from the component")
        staff.send_message(mto=f"cust-a@{DOMAIN}", mbody="psst, outside the appointment room", mtype="chat")
        error = await asyncio.wait_for(bounced, 10)
        assert (error["error"]["type"], error["error"]["condition"]) == ("cancel", "not-allowed"), error
        assert error["error"]["text"] == ONE_TO_ONE_REFUSAL, error
        component.send_message(mto=f"cust-a@{DOMAIN}", mbody="hello from the component", mtype="chat",
                               mfrom=ejabberd_server.config.component.jid)
        await asyncio.wait_for(heard, 10)
    finally:
        for xmpp in (staff, customer, component):
            xmpp.disconnect()


async def test_a_wrong_component_secret_is_refused(ejabberd_server: EjabberdProcess) -> None:
    c = ejabberd_server.config.component
    component = ComponentXMPP(c.jid, "not-the-secret-at-all", "127.0.0.1", c.port)
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    component.add_event_handler("session_start", lambda _: outcome.done() or outcome.set_result("connected"))
    component.add_event_handler("disconnected", lambda _: outcome.done() or outcome.set_result("refused"))
    component.connect()
    try:
        assert await asyncio.wait_for(outcome, 10) == "refused"
    finally:
        component.disconnect()


async def test_accounts_are_created_changed_and_deleted(ejabberd_server: EjabberdProcess, accounts: EjabberdAccounts) -> None:
    jid = f"carl-{secrets.token_hex(3)}@{DOMAIN}"  # the session node also holds the demo's carl
    assert await accounts.create_account(jid, "old-password") is True
    assert await accounts.create_account(jid, "other-password") is False  # exists: nothing changed
    assert await accounts.ensure_account(jid, "new-password") is False     # exists: password set
    assert await login(ejabberd_server, jid, "old-password") is None
    client = await login(ejabberd_server, jid, "new-password")
    assert client is not None
    client.disconnect()
    await accounts.delete_account(jid)
    assert await login(ejabberd_server, jid, "new-password") is None
    assert await accounts.ensure_account(jid, "again-password") is True


async def test_account_errors_are_named(ejabberd_server: EjabberdProcess, accounts: EjabberdAccounts) -> None:
    with pytest.raises(AccountCommandError, match="new password of nobody@.*404"):
        await accounts.set_password(f"nobody@{DOMAIN}", "some-password")
    with pytest.raises(AccountCommandError, match="refused account someone@other.test.*Unknown virtual host"):
        await accounts.create_account("someone@other.test", "some-password")


async def test_an_admin_api_that_is_not_there_is_named() -> None:
    api = EjabberdAdminApi(f"http://127.0.0.1:{free_port()}/api", timeout=2)
    try:
        with pytest.raises(LinkUnavailable, match="admin API at .* did not answer register"):
            await EjabberdAccounts(api).create_account(f"x@{DOMAIN}", "password")
    finally:
        await api.close()


async def test_an_admin_api_refusing_us_is_named(reachable_dir: Path) -> None:
    """What ejabberd answers when api_permissions do not match (Debian's AND-ed example, trap 2)."""
    async def refuse(_request: web.Request) -> web.Response:
        return web.json_response({"status": "error", "code": 32, "message": "AccessRules: Account does not have "
                                  "the right to perform the operation."}, status=403)

    app = web.Application()
    app.router.add_post("/api/{command}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server = EjabberdProcess(ejabberd_test_config(reachable_dir / "state", ejabberd={"admin_api_port": port}))
    api = EjabberdAdminApi(server.api_url)
    try:
        with pytest.raises(EjabberdError, match="refused `status` \\(403.*AccessRules.*api_permissions"):
            await server.check_admin_api()
        with pytest.raises(AccountCommandError, match="403 AccessRules.*code 32"):
            await EjabberdAccounts(api).create_account(f"x@{DOMAIN}", "password")
    finally:
        await api.close()
        await runner.cleanup()


async def test_a_wrong_erlang_cookie_is_named(ejabberd_server: EjabberdProcess) -> None:
    cookie = ejabberd_server.paths.cookie_file
    kept = cookie.read_bytes()
    os.chmod(cookie, 0o600)
    cookie.write_bytes(b"NOTTHECOOKIEOFTHISNODE")
    try:
        with pytest.raises(EjabberdError, match="refused our Erlang cookie"):
            await asyncio.to_thread(ejabberd_server.ctl, "status")
    finally:
        cookie.write_bytes(kept)
        os.chmod(cookie, 0o400)
    assert "started" in await asyncio.to_thread(ejabberd_server.ctl, "status")


async def test_a_bad_config_fails_fast_with_the_reason(reachable_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    render = ejabberd_process.render_ejabberd_config
    monkeypatch.setattr(ejabberd_process, "render_ejabberd_config",
                        lambda config, paths: render(config, paths) + "assume_mam_usagez: true\n")
    server = EjabberdProcess(ejabberd_test_config(reachable_dir / "state"))
    with pytest.raises(EjabberdError, match=r"failed to start \(.*Unknown option: assume_mam_usagez"):
        await asyncio.wait_for(server.start(), 30)
    assert _node_pids(server.paths.spool_dir) == []


async def test_stop_leaves_no_node_behind_and_a_restart_keeps_the_accounts(reachable_dir: Path) -> None:
    server = EjabberdProcess(ejabberd_test_config(reachable_dir / "state"))
    await server.start()
    api = EjabberdAdminApi(server.api_url)
    try:
        assert await EjabberdAccounts(api).create_account(f"kept@{DOMAIN}", "kept-password")
        await server.stop()
        assert _node_pids(server.paths.spool_dir) == []
        assert not await child_process.port_open("127.0.0.1", server.config.xmpp.client_port)
        await server.start()  # the same state directory: mnesia in the spool, same node name
        assert await EjabberdAccounts(api).create_account(f"kept@{DOMAIN}", "other-password") is False
    finally:
        await api.close()
        await server.stop()
    assert _node_pids(server.paths.spool_dir) == []


async def test_the_node_dies_with_its_parent(reachable_dir: Path) -> None:
    """`up` killed with SIGKILL leaves no node: the VM is our child with a parent-death signal."""
    state = reachable_dir / "state"
    document = config_document(state, xmpp={"server": "ejabberd"},
                               ejabberd={"distribution_port": free_port(), "admin_api_port": free_port()})
    config = parse_config(document, state)
    script = textwrap.dedent("""
        import asyncio, json, sys
        from pathlib import Path
        from dotimely_chat.config import parse_config
        from dotimely_chat.servers.ejabberd_process import EjabberdProcess
        async def main():
            await EjabberdProcess(parse_config(json.loads(sys.argv[1]), Path(sys.argv[2]))).start()
            print("ready", flush=True)
            await asyncio.sleep(120)
        asyncio.run(main())
    """)
    parent = await asyncio.create_subprocess_exec(sys.executable, "-c", script, json.dumps(document), str(state),
                                                  cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(parent.stdout.readline(), 60)
        assert line.strip() == b"ready"
        spool = config.state_directory / "ejabberd" / "spool"
        assert len(_node_pids(spool)) == 1
        parent.send_signal(signal.SIGKILL)
        for _ in range(200):
            if not _node_pids(spool):
                break
            await asyncio.sleep(0.1)
        assert _node_pids(spool) == []
    finally:
        if parent.returncode is None:
            parent.kill()
        await parent.wait()
        for pid in _node_pids(config.state_directory / "ejabberd" / "spool"):
            os.kill(pid, signal.SIGKILL)


async def test_a_state_directory_the_ejabberd_user_cannot_reach_runs_the_node_as_root(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A checkout under /root (0700), as `./run.sh up` on a fresh Debian: the node runs as root, with a warning."""
    if os.geteuid() != 0:
        pytest.skip("only root runs the node as the ejabberd user")
    state = tmp_path / "private" / "state"
    state.parent.mkdir(mode=0o700)
    server = EjabberdProcess(ejabberd_test_config(state))
    try:
        await server.start()
        assert server.run_as is None
        assert "cannot reach" in caplog.text and "runs as root" in caplog.text
        assert "started" in await asyncio.to_thread(server.ctl, "status")  # the cookie in our HOME, as root
    finally:
        await server.stop()
    assert _node_pids(server.paths.spool_dir) == []


async def test_status_over_http_uses_one_keep_alive_connection(ejabberd_server: EjabberdProcess) -> None:
    api = EjabberdAdminApi(ejabberd_server.api_url)
    try:
        for _ in range(5):
            assert (await api.call("status"))[0] == 200
        assert api._http is not None
        connector = api._http.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert sum(len(c) for c in connector._conns.values()) == 1
    finally:
        await api.close()
