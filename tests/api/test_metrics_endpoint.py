"""GET /metrics at the API's front door: public, Prometheus text format, route templates as labels (never a
raw path or a made-up method), and one registry per service so that several live in one process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from dotimely_chat.api.app import build_api_app
from dotimely_chat.api.context import ApiContext
from dotimely_chat.component.link import ChatComponent
from dotimely_chat.metrics import Metrics
from dotimely_chat.servers.accounts import ProsodyAccounts
from dotimely_chat.services.audit import AuditLog
from dotimely_chat.services.directory import DirectoryService
from dotimely_chat.services.health import HealthChecks
from dotimely_chat.storage import BusinessRepository, Database, upgrade_database

from ..conftest import make_test_config


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(sample name, labels) -> value, from the exposition text."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[TestClient, str, Metrics]]:
    config = make_test_config(tmp_path / "state")
    database = Database(f"sqlite:///{tmp_path / 'api.db'}")
    await upgrade_database(database)
    async with database.session() as session:
        await BusinessRepository(session).add("salon-1", "Salon One")
        await session.commit()
    metrics = Metrics()
    component = ChatComponent(config)  # never connected here
    metrics.watch(link=component)
    directory = DirectoryService(database, ProsodyAccounts(component), None, config.xmpp.domain)
    app = build_api_app(ApiContext(config, HealthChecks(database), component, directory, AuditLog(database),
                                   metrics=metrics))
    metrics.instrument(app, "api")
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client, config.api.token, metrics
    await client.close()
    await database.dispose()


async def test_metrics_are_public_in_prometheus_text_format(api: tuple[TestClient, str, Metrics]) -> None:
    client, _, _ = api
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    found = samples(await response.text())
    assert found[("dotimely_xmpp_link_up", frozenset())] == 0
    assert found[("dotimely_xmpp_link_reconnects_total", frozenset())] == 0
    assert ("process_resident_memory_bytes", frozenset()) in found
    assert found[("dotimely_asyncio_tasks", frozenset())] >= 1
    open_metrics = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert open_metrics.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await open_metrics.text()).endswith("# EOF\n")


@pytest.mark.parametrize("accept", [
    "application/openmetrics-text; version=abc",  # prometheus_client 0.26's choose_encoder raises TypeError
    "application/openmetrics-text; version=9.9.9",  # ...and would echo this version back
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.4",
])
async def test_odd_accept_headers_get_one_of_the_two_documented_formats(
    api: tuple[TestClient, str, Metrics], accept: str
) -> None:
    client, _, _ = api
    response = await client.get("/metrics", headers={"Accept": accept})
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    assert (await response.text()).endswith("# EOF\n")


async def test_requests_are_counted_by_route_template_and_status(api: tuple[TestClient, str, Metrics]) -> None:
    client, token, _ = api
    auth = {"Authorization": f"Bearer {token}"}
    for business in ("salon-1", "no-such-salon", "another-one"):
        await (await client.get(f"/v1/businesses/{business}", headers=auth)).release()
    await (await client.get("/v1/businesses/salon-1")).release()  # no token
    await (await client.get("/v1/no-such-thing/customer-42", headers=auth)).release()
    await (await client.request("PROPFIND", "/v1/businesses", headers=auth)).release()
    text = await (await client.get("/metrics")).text()
    found = samples(text)

    def requests(method: str, route: str, status: int) -> float:
        labels = {"server": "api", "method": method, "route": route, "status": str(status)}
        return found.get(("dotimely_http_requests_total", frozenset(labels.items())), 0)

    assert requests("GET", "/v1/businesses/{business}", 200) == 1
    assert requests("GET", "/v1/businesses/{business}", 404) == 2
    assert requests("GET", "/v1/businesses/{business}", 401) == 1
    assert requests("GET", "unmatched", 404) == 1
    assert requests("other", "unmatched", 405) == 1, "a method outside the usual ones is not a label value of its own"
    for raw in ("salon-1", "no-such-salon", "another-one", "customer-42", "PROPFIND"):
        assert raw not in text, f"{raw!r} from a request became a label value"
    duration = ("dotimely_http_request_duration_seconds_count",
                frozenset({"server": "api", "route": "/v1/businesses/{business}"}.items()))
    assert found[duration] == 4


def test_each_service_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()  # the global default registry would refuse the second set of names
    first.upload_stored(10)
    assert samples(first.exposition(None)[0].decode())[("dotimely_uploads_total", frozenset())] == 1
    assert samples(second.exposition(None)[0].decode())[("dotimely_uploads_total", frozenset())] == 0
