"""Fixtures shared by the integration tests: a real Prosody from the generated config on free loopback
ports in a temp dir, accounts, and connected slixmpp clients. A failing test shows the server's log."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from slixmpp import ClientXMPP

from dotimely_chat.config import Config, parse_config
from dotimely_chat.servers.prosody_config import ProsodyPaths
from dotimely_chat.servers.prosody_process import ProsodyProcess
from dotimely_chat.servers.tls import LocalCA

# Under CI the property tests draw the same examples every run: a failure there is a regression of the
# code, not a new draw (run them without CI to explore).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

DOMAIN = "dotimely.test"
_running_servers: list[ProsodyProcess] = []


_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port, never the same twice in a session (the kernel may hand one out again)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def config_document(state_directory: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """A config document on free loopback ports; `sections` override keys per section."""
    doc: dict[str, Any] = {
        "state_directory": str(state_directory),
        "xmpp": {"domain": DOMAIN, "client_port": free_port(), "http_port": free_port()},
        "component": {"jid": f"chat.{DOMAIN}", "secret": secrets.token_urlsafe(24), "port": free_port()},
        "muc": {"host": f"rooms.{DOMAIN}"},
        "http": {"api_listen": f"127.0.0.1:{(api := free_port())}", "api_public_url": f"http://127.0.0.1:{api}",
                 "upload_listen": f"127.0.0.1:{(up := free_port())}",
                 "upload_public_url": f"https://127.0.0.1:{up}"},
        "api": {"token": secrets.token_urlsafe(24)},
        "web": {"listen": f"127.0.0.1:{(page := free_port())}", "public_url": f"http://localhost:{page}"},
    }
    for section, values in sections.items():
        doc.setdefault(section, {}).update(values)
    return doc


def make_test_config(state_directory: Path, **sections: dict[str, Any]) -> Config:
    return parse_config(config_document(state_directory, **sections), state_directory)


requires_prosody = pytest.mark.skipif(shutil.which("prosody") is None,
                                      reason="Prosody is not installed (./run.sh test installs it)")


@pytest.fixture(scope="session")
async def prosody_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ProsodyProcess]:
    """One real Prosody for the session, started from the generated config."""
    if shutil.which("prosody") is None:
        pytest.fail("Prosody is not installed: run the tests with ./run.sh test", pytrace=False)
    config = make_test_config(tmp_path_factory.mktemp("prosody") / "state")
    server = ProsodyProcess(config)
    await server.start()
    _running_servers.append(server)
    yield server
    _running_servers.remove(server)
    await server.stop()


@pytest.fixture
async def prosody_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[ProsodyProcess]]]:
    """Start a Prosody of a test's own (for tests that stop or restart the server)."""
    started: list[ProsodyProcess] = []

    async def start(**sections: dict[str, Any]) -> ProsodyProcess:
        server = ProsodyProcess(make_test_config(tmp_path / f"state{len(started)}", **sections))
        await server.start()
        started.append(server)
        _running_servers.append(server)
        return server

    yield start
    for server in started:
        _running_servers.remove(server)
        await server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in _running_servers:
            report.sections.append((f"Prosody log ({server.paths.log_file})", server.log_tail(80)))


def client_ssl_context(paths: ProsodyPaths) -> ssl.SSLContext:
    """Trust exactly the generated demo CA (as a client does once the CA is trusted): TLS is verified."""
    return ssl.create_default_context(cafile=str(LocalCA.in_state(paths.root.parent).certificate))


class ClientFactory:
    def __init__(self, server: ProsodyProcess) -> None:
        self.server = server
        self.clients: list[ClientXMPP] = []

    def account(self, localpart: str | None = None) -> tuple[str, str]:
        localpart = localpart or f"user-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12)
        self.server.register(localpart, password)
        return f"{localpart}@{self.server.config.xmpp.domain}", password

    async def connect(self, jid: str, password: str, *plugins: str, timeout: float = 10.0,
                      **named_plugins: Any) -> ClientXMPP:
        """A logged-in client with xep_0030, xep_0199 and the plugins named (positionally or as keywords)."""
        client = ClientXMPP(jid, password)
        for plugin in ("xep_0030", "xep_0199", *plugins, *named_plugins):
            client.register_plugin(plugin)
        client.ssl_context = client_ssl_context(self.server.paths)
        started: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        client.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
        client.add_event_handler("failed_auth", lambda _: started.done() or started.set_result(False))
        client.connect("127.0.0.1", self.server.config.xmpp.client_port)
        self.clients.append(client)
        if not await asyncio.wait_for(started, timeout):
            raise AssertionError(f"{jid} could not log in")
        return client

    async def close(self) -> None:
        for client in self.clients:
            client.disconnect()
        await asyncio.sleep(0)


@pytest.fixture
async def xmpp_clients(prosody_server: ProsodyProcess) -> AsyncIterator[ClientFactory]:
    factory = ClientFactory(prosody_server)
    yield factory
    await factory.close()


@pytest.fixture
async def chat_service(prosody_server: ProsodyProcess, tmp_path: Path) -> AsyncIterator[Any]:
    """The whole service (component, database, HTTP) on the session Prosody, with a database of its own."""
    import dataclasses

    from dotimely_chat.app import ChatService

    base = prosody_server.config
    own = make_test_config(tmp_path / "service-state")
    config = dataclasses.replace(base, state_directory=own.state_directory, http=own.http, web=own.web)
    service = ChatService(config)
    await service.start()
    try:
        assert await service.component.wait_connected(15), service.component.state
        yield service
    finally:
        await service.stop()
