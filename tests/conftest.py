"""Fixtures shared by the tests: a real Prosody (and a real ejabberd) from the generated config on free
loopback ports in a temp dir, connected slixmpp clients, the whole service and its API on either; the store
suite's databases (SQLite and PostgreSQL). A failing test shows the server's log. The helpers behind them live
in tests/support/."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings as hypothesis_settings

from dotimely_chat.servers.prosody_process import ProsodyProcess

from .support.clients import ClientFactory, clients_for
from .support.config import make_test_config
from .support.server_logs import RUNNING_SERVERS

if TYPE_CHECKING:  # imported where used: collecting the unit tests does not load the whole service
    from dotimely_chat.config import Config
    from dotimely_chat.app import ChatService
    from dotimely_chat.storage import Database

    from dotimely_chat.servers.ejabberd_process import EjabberdProcess

    from .support.business import Api
    from .support.postgres import PostgresServer

# Under CI the property tests draw the same examples every run: a failure there is a regression of the
# code, not a new draw (run them without CI to explore).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

@pytest.fixture(scope="session")
async def prosody_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ProsodyProcess]:
    """One real Prosody for the session, started from the generated config."""
    if shutil.which("prosody") is None:
        pytest.fail("Prosody is not installed: run the tests with ./run.sh test", pytrace=False)
    config = make_test_config(tmp_path_factory.mktemp("prosody") / "state")
    server = ProsodyProcess(config)
    await server.start()
    RUNNING_SERVERS.append(server)
    yield server
    RUNNING_SERVERS.remove(server)
    await server.stop()


@pytest.fixture
async def prosody_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[ProsodyProcess]]]:
    """Start a Prosody of a test's own (for tests that stop or restart the server); `before_start`: see
    xmpp_factory."""
    started: list[ProsodyProcess] = []

    async def start(before_start: Callable[[Config], None] | None = None, **sections: dict[str, Any]
                    ) -> ProsodyProcess:
        server = ProsodyProcess(make_test_config(tmp_path / f"state{len(started)}", **sections))
        if before_start is not None:
            before_start(server.config)
        await server.start()
        started.append(server)
        RUNNING_SERVERS.append(server)
        return server

    yield start
    for server in started:
        RUNNING_SERVERS.remove(server)
        await server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in RUNNING_SERVERS:
            report.sections.append((f"{type(server).__name__} log ({server.paths.log_file})", server.log_tail(80)))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "servers(*kinds): run the test once on each XMPP server named "
                            "('prosody', 'ejabberd'); the fixtures `xmpp_server`, `xmpp_factory`, `xmpp_kind`, "
                            "`xmpp_clients`, `chat_service` and `api` follow (unmarked: Prosody only)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("servers")
    if marker is None:
        return
    # One parameter per kind for all of them at once: a test using two of them gets one server kind.
    names = [name for name in ("xmpp_server", "xmpp_factory", "xmpp_kind") if name in metafunc.fixturenames]
    if names:
        metafunc.parametrize(names, [(kind,) * len(names) for kind in marker.args], indirect=True,
                             ids=list(marker.args))


@pytest.fixture
def xmpp_server(request: pytest.FixtureRequest) -> ProsodyProcess | EjabberdProcess:
    """The session server of the test's kind (the `servers` marker; Prosody by default)."""
    kind = getattr(request, "param", "prosody")
    assert kind in ("prosody", "ejabberd"), kind
    return request.getfixturevalue(f"{kind}_server")  # type: ignore[no-any-return]


@pytest.fixture
def xmpp_factory(request: pytest.FixtureRequest) -> Callable[..., Awaitable[ProsodyProcess | EjabberdProcess]]:
    """A factory of servers of a test's own, of the test's kind (the `servers` marker; Prosody by default):
    `await xmpp_factory(xmpp={...})` starts one from make_test_config's sections; stopped after the test.
    `before_start(config)` runs on the server's config before it starts (e.g. to plant files an older version
    left in its state directory)."""
    kind = getattr(request, "param", "prosody")
    assert kind in ("prosody", "ejabberd"), kind
    return request.getfixturevalue(f"{kind}_factory")  # type: ignore[no-any-return]


@pytest.fixture
def xmpp_kind(request: pytest.FixtureRequest) -> str:
    """The test's server kind, 'prosody' or 'ejabberd' (the `servers` marker; Prosody by default), for tests
    that run `up` themselves; fails when that server is not installed."""
    from dotimely_chat.servers import ejabberd_process

    kind = getattr(request, "param", "prosody")
    assert kind in ("prosody", "ejabberd"), kind
    installed = shutil.which("prosody") is not None if kind == "prosody" else \
        Path(ejabberd_process.EJABBERDCTL).exists()
    if not installed:
        pytest.fail(f"{kind} is not installed: run the tests with ./run.sh test", pytrace=False)
    return kind  # type: ignore[no-any-return]


@pytest.fixture
async def xmpp_clients(xmpp_server: ProsodyProcess | EjabberdProcess) -> AsyncIterator[ClientFactory]:
    factory = clients_for(xmpp_server)
    yield factory
    await factory.close()


@pytest.fixture
async def chat_service(xmpp_server: ProsodyProcess | EjabberdProcess, tmp_path: Path
                       ) -> AsyncIterator[ChatService]:
    """The whole service on the session server of the test's kind (Prosody unless marked `servers`)."""
    from .support.service import service_on

    async with service_on(xmpp_server, tmp_path) as service:
        yield service


@pytest.fixture
async def api(chat_service: ChatService) -> AsyncIterator[Api]:
    """The booking API of `chat_service`, as the booking backend calls it."""
    import aiohttp

    from .support.business import Api

    async with aiohttp.ClientSession() as http:
        yield Api(chat_service, http)


@pytest.fixture(scope="session")
async def ejabberd_server() -> AsyncIterator[EjabberdProcess]:
    """One real ejabberd 23.01 node for the session (about 2.5 s to start), from the generated config, in a
    temp dir the ejabberd user can reach."""
    from dotimely_chat.servers import ejabberd_process

    from .support.ejabberd import ejabberd_test_config, reachable_temp_dir

    if not Path(ejabberd_process.EJABBERDCTL).exists():
        pytest.fail("ejabberd is not installed: run the tests with ./run.sh test", pytrace=False)
    with reachable_temp_dir() as folder:
        server = ejabberd_process.EjabberdProcess(ejabberd_test_config(folder / "state"))
        await server.start()
        RUNNING_SERVERS.append(server)
        try:
            yield server
        finally:
            RUNNING_SERVERS.remove(server)
            await server.stop()


@pytest.fixture
async def ejabberd_factory() -> AsyncIterator[Callable[..., Awaitable[EjabberdProcess]]]:
    """Start an ejabberd node of a test's own (for tests that stop, kill or restart the server);
    `before_start`: see xmpp_factory."""
    from dotimely_chat.servers import ejabberd_process

    from .support.ejabberd import ejabberd_test_config, reachable_temp_dir

    if not Path(ejabberd_process.EJABBERDCTL).exists():
        pytest.fail("ejabberd is not installed: run the tests with ./run.sh test", pytrace=False)
    started: list[EjabberdProcess] = []
    with reachable_temp_dir() as folder:

        async def start(before_start: Callable[[Config], None] | None = None, **sections: dict[str, Any]
                        ) -> EjabberdProcess:
            server = ejabberd_process.EjabberdProcess(
                ejabberd_test_config(folder / f"state{len(started)}", **sections))
            if before_start is not None:
                before_start(server.config)
            await server.start()
            started.append(server)
            RUNNING_SERVERS.append(server)
            return server

        try:
            yield start
        finally:
            for server in started:
                RUNNING_SERVERS.remove(server)
                await server.stop()


@pytest.fixture
async def ejabberd_clients(ejabberd_server: EjabberdProcess) -> AsyncIterator[ClientFactory]:
    factory = clients_for(ejabberd_server)
    yield factory
    await factory.close()


@pytest.fixture
async def ejabberd_chat_service(ejabberd_server: EjabberdProcess, tmp_path: Path) -> AsyncIterator[ChatService]:
    """The whole service on the session ejabberd, with a database of its own."""
    from .support.service import service_on

    async with service_on(ejabberd_server, tmp_path) as service:
        yield service


@pytest.fixture
async def ejabberd_api(ejabberd_chat_service: ChatService) -> AsyncIterator[Api]:
    """The booking API of `ejabberd_chat_service`."""
    import aiohttp

    from .support.business import Api

    async with aiohttp.ClientSession() as http:
        yield Api(ejabberd_chat_service, http)


@pytest.fixture(scope="session")
async def postgres_server() -> AsyncIterator[PostgresServer]:
    from .support.postgres import POSTGRES_URL, PostgresServer

    server = PostgresServer(POSTGRES_URL)  # creating the engine does not connect
    yield server
    await server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_db(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server: PostgresServer
) -> AsyncIterator[Database]:
    """An empty database (no tables): a new SQLite file, or a new PostgreSQL schema."""
    from dotimely_chat.storage import Database

    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'state' / 'dotimely.db'}")
        yield db
        await db.dispose()
        return

    await postgres_server.require()
    schema = f"test_{secrets.token_hex(6)}"
    await postgres_server.execute(f'CREATE SCHEMA "{schema}"')
    db = Database(postgres_server.url, connect_args={"server_settings": {"search_path": schema}})
    try:
        yield db
    finally:
        await db.dispose()
        await postgres_server.execute(f'DROP SCHEMA "{schema}" CASCADE')
