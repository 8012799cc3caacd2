"""A database locked by another writer (SQLite: a write transaction of another connection; PostgreSQL: a
table lock held by another session): the API answers 503 database_busy with Retry-After instead of
waiting the default lock wait and answering 500, writes nothing, and the retry succeeds once released.
/healthz says 'busy' on SQLite (its check runs outside the connection pool)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from dotimely_chat.api.app import build_api_app
from dotimely_chat.api.context import ApiContext
from dotimely_chat.component.link import ChatComponent
from dotimely_chat.servers.accounts import ProsodyAccounts
from dotimely_chat.services.audit import AuditLog
from dotimely_chat.services.directory import DirectoryService
from dotimely_chat.services.health import HealthChecks
from dotimely_chat.storage import Database
from dotimely_chat.storage.database import sqlite_file

from ..conftest import make_test_config


@pytest.fixture
async def api_on(db: Database, tmp_path: Path) -> AsyncIterator[tuple[TestClient, dict[str, str]]]:
    config = make_test_config(tmp_path / "state")
    # No XMPP link: businesses are directory writes only.
    directory = DirectoryService(db, ProsodyAccounts(ChatComponent(config)), None, config.xmpp.domain)
    context = ApiContext(config, HealthChecks(db), None, directory, AuditLog(db))
    client = TestClient(TestServer(build_api_app(context)))
    await client.start_server()
    yield client, {"Authorization": f"Bearer {config.api.token}"}
    await client.close()


async def hold_write_lock(db: Database) -> Callable[[], Awaitable[None]]:
    """Take the lock another writer would hold; returns the function that releases it."""
    path = sqlite_file(db.engine.url) if db.dialect_name == "sqlite" else None
    if path is not None:
        other = sqlite3.connect(path, isolation_level=None)  # like another process
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO businesses (external_id, name, created_at) VALUES ('held', 'Held', "
                      "'2026-01-01 00:00:00')")

        async def release_sqlite() -> None:
            other.execute("ROLLBACK")
            other.close()

        return release_sqlite
    connection = await db.engine.connect()
    await connection.execute(text("LOCK TABLE businesses IN EXCLUSIVE MODE"))  # readers pass, writers wait

    async def release_postgresql() -> None:
        await connection.rollback()
        await connection.close()

    return release_postgresql


async def test_a_locked_database_is_answered_503_with_retry_after_and_nothing_is_written(
    db: Database, api_on: tuple[TestClient, dict[str, str]]
) -> None:
    client, auth = api_on
    release = await hold_write_lock(db)
    try:
        response = await client.put("/v1/businesses/salon-locked", json={"name": "Locked"}, headers=auth)
        assert response.status == 503
        body = await response.json()
        assert body["errcode"] == "database_busy" and body["retry_after"] >= 1
        assert int(response.headers["Retry-After"]) == body["retry_after"]
        health = await client.get("/healthz")
        assert health.status == 503
        if db.dialect_name == "sqlite":
            assert (await health.json())["database"]["state"] == "busy"
    finally:
        await release()

    # Nothing half-written, and the retry succeeds.
    assert (await client.get("/v1/businesses/salon-locked", headers=auth)).status == 404
    retry = await client.put("/v1/businesses/salon-locked", json={"name": "Locked"}, headers=auth)
    assert retry.status == 201 and (await retry.json())["name"] == "Locked"
    assert [b["id"] for b in (await (await client.get("/v1/businesses", headers=auth)).json())["businesses"]] \
        == ["salon-locked"]
    assert (await (await client.get("/healthz")).json())["database"]["state"] == "ok"
