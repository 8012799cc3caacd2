"""The HTTP API's front door: bearer token, JSON errors with a stable errcode, OpenAPI, health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dotimely_chat.api.app import build_api_app
from dotimely_chat.api.context import ApiContext
from dotimely_chat.component.link import ChatComponent
from dotimely_chat.servers.accounts import ProsodyAccounts
from dotimely_chat.services.audit import AuditLog
from dotimely_chat.services.directory import DirectoryService
from dotimely_chat.services.health import HealthChecks
from dotimely_chat.storage import BusinessRepository, Database, upgrade_database

from ..conftest import make_test_config


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[TestClient, str]]:
    config = make_test_config(tmp_path / "state")
    database = Database(f"sqlite:///{tmp_path / 'api.db'}")
    await upgrade_database(database)
    async with database.session() as session:
        await BusinessRepository(session).add("salon-1", "Salon One")
        await session.commit()
    # The XMPP link is never connected here: these tests stop at the front door.
    directory = DirectoryService(database, ProsodyAccounts(ChatComponent(config)), None, config.xmpp.domain)
    context = ApiContext(config, HealthChecks(database), None, directory, AuditLog(database))
    client = TestClient(TestServer(build_api_app(context)))
    await client.start_server()
    yield client, config.api.token
    await client.close()
    await database.dispose()


async def test_missing_token_is_refused_with_json_errcode(api: tuple[TestClient, str]) -> None:
    client, _ = api
    response = await client.get("/v1/businesses")
    assert response.status == 401
    body = await response.json()
    assert body["errcode"] == "unauthorized" and "Bearer" in body["error"]


async def test_wrong_token_is_refused(api: tuple[TestClient, str]) -> None:
    client, token = api
    response = await client.get("/v1/businesses", headers={"Authorization": f"Bearer {token}x"})
    assert response.status == 401
    assert (await response.json())["errcode"] == "unauthorized"


async def test_right_token_reads_businesses(api: tuple[TestClient, str]) -> None:
    client, token = api
    headers = {"Authorization": f"Bearer {token}"}
    response = await client.get("/v1/businesses", headers=headers)
    assert response.status == 200
    assert [b["id"] for b in (await response.json())["businesses"]] == ["salon-1"]
    missing = await client.get("/v1/businesses/nope", headers=headers)
    assert missing.status == 404 and (await missing.json())["errcode"] == "not_found"


async def test_unknown_route_and_method_are_json_errors(api: tuple[TestClient, str]) -> None:
    client, token = api
    headers = {"Authorization": f"Bearer {token}"}
    response = await client.get("/v1/nothing-here", headers=headers)
    assert response.status == 404 and (await response.json())["errcode"] == "not_found"
    response = await client.post("/v1/businesses", headers=headers)
    assert response.status == 405 and (await response.json())["errcode"] == "method_not_allowed"


async def test_openapi_document_is_served_without_token(api: tuple[TestClient, str]) -> None:
    client, _ = api
    response = await client.get("/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document["openapi"].startswith("3.")
    assert "/v1/businesses/{business}" in document["paths"]


async def test_health_is_503_without_the_xmpp_link(api: tuple[TestClient, str]) -> None:
    client, _ = api
    response = await client.get("/healthz")
    assert response.status == 503
    body = await response.json()
    assert body["database"]["ok"] is True and body["xmpp"]["connected"] is False


def test_every_route_is_in_the_openapi_document(tmp_path: Path) -> None:
    from dotimely_chat.api.openapi import openapi_document

    config = make_test_config(tmp_path / "state")
    database = Database(f"sqlite:///{tmp_path / 'api.db'}")
    directory = DirectoryService(database, ProsodyAccounts(ChatComponent(config)), None, config.xmpp.domain)
    app = build_api_app(ApiContext(config, HealthChecks(database), None, directory, AuditLog(database)))
    paths = openapi_document("http://x")["paths"]
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        path = route.resource.canonical  # type: ignore[union-attr]
        assert path in paths, path
        assert route.method.lower() in paths[path], (route.method, path)
