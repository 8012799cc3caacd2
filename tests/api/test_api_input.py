"""Hostile and odd input at the API's front door: every answer is a 4xx with an errcode naming what is
wrong (never 500 "internal"), and nothing is written. The whole service is built, its XMPP link absent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dotimely_chat.api.app import build_api_app
from dotimely_chat.api.context import ApiContext
from dotimely_chat.app import ChatService
from dotimely_chat.services.audit import AuditLog
from dotimely_chat.services.health import HealthChecks
from dotimely_chat.storage import BusinessRepository, upgrade_database

from ..conftest import make_test_config

Client = tuple[TestClient, dict[str, str]]


@pytest.fixture(scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    """One service for the module: every request here is refused, so nothing is shared between tests."""
    state = tmp_path_factory.mktemp("api-input") / "state"
    service = ChatService(make_test_config(state))  # never started: no XMPP link
    await upgrade_database(service.database)
    async with service.database.session() as session:
        await BusinessRepository(session).add("salon-1", "Salon One")
        await session.commit()
    context = ApiContext(service.config, HealthChecks(service.database), None, service.directory,
                         AuditLog(service.database), service.appointments, service.rooms, service.status,
                         export=service.export, web_logins=service.web_logins)
    client = TestClient(TestServer(build_api_app(context)))
    await client.start_server()
    yield client, {"Authorization": f"Bearer {service.config.api.token}"}
    await client.close()
    await service.database.dispose()


async def answer(response: Any) -> tuple[int, dict[str, Any]]:
    return response.status, await response.json()


BAD_QUERIES = [  # (path, the parameter the answer must name)
    ("/v1/businesses/salon-1/people?offset=4.8e32", "offset"),
    ("/v1/businesses/salon-1/people?offset=480000000000000000000000000000000", "offset"),
    ("/v1/businesses/salon-1/people?limit=%D9%A1%D9%A2", "limit"),  # Arabic-Indic digits: int() takes them
    ("/v1/businesses/salon-1/people?limit=0", "limit"),
    ("/v1/businesses/salon-1/conversations?limit=-1", "limit"),
    ("/v1/businesses/salon-1/conversations?offset=1e3", "offset"),
    ("/v1/businesses/salon-1/audit?limit=99999999999", "limit"),
    ("/v1/businesses/salon-1/export?from=9999-12-31&to=9999-12-31", "to"),
    ("/v1/businesses/salon-1/export?from=0001-01-01T00:00:00%2B05:00", "from"),
    ("/v1/businesses/salon-1/export?to=0001-01-02", "to"),
    ("/v1/businesses/salon-1/people?q=%08", "q"),
    ("/v1/businesses/salon-1/people?q=%EF%BF%BE", "q"),  # U+FFFE
    ("/v1/businesses/salon%01/people", "business"),
]


@pytest.mark.parametrize(("path", "parameter"), BAD_QUERIES)
async def test_bad_query_and_path_parameters_are_400_naming_them(api: Client, path: str, parameter: str) -> None:
    client, auth = api
    status, body = await answer(await client.get(path, headers=auth))
    assert status == 400, body
    assert body["errcode"] == "bad_request" and body["details"]["field"] == parameter, body


BAD_BODIES = [  # (raw body, content type, status, errcode)
    ("[" * 1000 + "]" * 1000, "application/json", 400, "bad_request"),
    ('{"name": ' + "[" * 200 + "]" * 200 + "}", "application/json", 400, "bad_request"),
    ('{"name": "Salon"}', "application/json; charset=x-unknown-42", 415, "unsupported_media_type"),
    ('{"name": "Salon"}', "application/json; charset=latin-1", 415, "unsupported_media_type"),
    ('{"name": "Salon"}', "text/plain", 415, "unsupported_media_type"),
    ('{"name": NaN}', "application/json", 400, "bad_request"),
    ('{"name": "Sal\\u0000on"}', "application/json", 400, "bad_request"),
    ('{"name": "Salon \\udfff"}', "application/json", 400, "bad_request"),
    ('{"na\\u0007me": "Salon"}', "application/json", 400, "bad_request"),
]


@pytest.mark.parametrize(("raw", "content_type", "status", "errcode"), BAD_BODIES)
async def test_bad_bodies_are_refused_with_an_errcode(api: Client, raw: str, content_type: str, status: int,
                                                      errcode: str) -> None:
    client, auth = api
    response = await client.put("/v1/businesses/salon-2", data=raw.encode("utf-8", "surrogatepass"),
                                headers={**auth, "Content-Type": content_type})
    got, body = await answer(response)
    assert (got, body["errcode"]) == (status, errcode), body
    assert (await client.get("/v1/businesses/salon-2", headers=auth)).status == 404, "nothing written"


async def test_a_body_over_the_limit_is_413(api: Client) -> None:
    client, auth = api
    response = await client.put("/v1/businesses/salon-2", data=b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}',
                                headers={**auth, "Content-Type": "application/json"})
    status, body = await answer(response)
    assert status == 413 and body["errcode"] == "too_large"


@pytest.mark.parametrize("business", ["bad%08id", "bad%7Fid", "bad%C2%85id", "bad%E2%80%8Eid"])
async def test_a_business_id_with_control_characters_is_not_created(api: Client, business: str) -> None:
    client, auth = api
    status, body = await answer(await client.put(f"/v1/businesses/{business}", json={"name": "Bad"},
                                                 headers=auth))
    assert status == 400 and body["details"]["field"] == "business", body
    listed = await (await client.get("/v1/businesses", headers=auth)).json()
    assert [b["id"] for b in listed["businesses"]] == ["salon-1"]


@pytest.mark.parametrize(("field", "value"), [
    ("password", "secret\bpassword"), ("password", "\ue000private-use"), ("email", "a\x1b@mail.test"),
    ("phone", "+1\x7f"), ("display_name", "Cathy\x00"), ("jid", "cathy\x08@dotimely.test"),
])
async def test_person_fields_xml_cannot_carry_are_400_naming_the_field(api: Client, field: str,
                                                                       value: str) -> None:
    client, auth = api
    body = {"role": "customer", "display_name": "Cathy", field: value}
    status, answered = await answer(await client.put("/v1/businesses/salon-1/people/p1", json=body,
                                                     headers=auth))
    assert status == 400 and answered["details"]["field"] == field, answered


@pytest.mark.parametrize(("field", "value"), [
    ("service_name", "Cut\x08"), ("starts_at", "9999-12-31T23:59:00+00:00"),
    ("starts_at", "0001-01-01T00:00:00+05:00"), ("customer", "c\x01"),
])
async def test_appointment_fields_are_checked(api: Client, field: str, value: str) -> None:
    client, auth = api
    body = {"customer": "c1", "staff": "s1", "starts_at": "2026-12-01T10:00:00+01:00", "duration_minutes": 30,
            "service_name": "Cut", field: value}
    status, answered = await answer(await client.put("/v1/businesses/salon-1/appointments/a1", json=body,
                                                     headers=auth))
    assert status == 400 and answered["details"]["field"] == field, answered
