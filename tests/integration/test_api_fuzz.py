"""The HTTP API fuzzed from the OpenAPI document it serves (schemathesis), against the whole service on a
real Prosody: every operation, valid and invalid data, a bounded number of examples. Fails on any 5xx, any
status the document does not list for the operation, and any JSON answer that does not match its schema.

schemathesis speaks through `requests` (blocking), so it runs in a worker thread while the event loop
serves the API and the component."""

from __future__ import annotations

import asyncio
import os

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dotimely_chat.app import ChatService

from ..support.business import Api, make_business

# Per operation and generation mode; DOTIMELY_FUZZ_EXAMPLES raises it for a long run by hand.
EXAMPLES = int(os.environ.get("DOTIMELY_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def restore(session: requests.Session, base_url: str, headers: dict[str, str], ids: dict[str, str]) -> None:
    """The known business, with the known person as its owner. A DELETE of the business leaves its id kept
    (409 business_deleted until retention): then the fuzzing goes on with a new business id."""
    for attempt in range(1, 4):
        business, person = ids["business"], ids["person"]
        response = session.put(f"{base_url}/v1/businesses/{business}", json={"name": "Fuzzed Salon"},
                               headers=headers, timeout=30)
        if response.status_code == 409 and response.json().get("errcode") == "business_deleted":
            ids["business"] = f"{ids['business'].split('~')[0]}~{attempt}"
            continue
        assert response.status_code in (200, 201), (business, response.status_code, response.text)
        response = session.put(f"{base_url}/v1/businesses/{business}/people/{person}",
                               json={"role": "owner", "display_name": "Olga"}, headers=headers, timeout=30)
        assert response.status_code in (200, 201), (person, response.status_code, response.text)
        return
    raise AssertionError(f"no business id could be used again after {ids}")


def fuzz(base_url: str, token: str, business: str, person: str, examples: int) -> tuple[int, list[str]]:
    """Run every operation; (requests sent, failures)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/v1/openapi.json")
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    sent = 0
    failures: list[str] = []
    ids = {"business": business, "person": person}
    for result in schema.get_all_operations():
        operation = result.ok()
        # Half of the cases on an existing business and person, so that more than 404 is reached.
        names = [name for name in ("business", "person") if name in operation.path]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for with_known in (False, True) if names else (False,):
                fixed: dict[str, str] = {}
                if with_known:  # an earlier DELETE or PUT may have removed or changed them
                    restore(session, base_url, headers, ids)
                    fixed = {name: ids[name] for name in names}

                @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                          suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
                @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))
                def run(case: schemathesis.Case) -> None:
                    nonlocal sent
                    sent += 1
                    case.call_and_validate(base_url=base_url, session=session, headers=headers, checks=CHECKS,
                                           timeout=30)

                try:
                    run()
                except Unsatisfiable:  # nothing in the operation can be made invalid (no parameters)
                    continue
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - one report for every operation
                    failures.append(f"{operation.label} [{mode.value}{', known ids' if fixed else ''}]: "
                                    f"{str(exc)[:1500]}")
    session.close()
    return sent, failures


async def test_the_api_answers_fuzzed_requests_only_as_its_document_says(
        api: Api, chat_service: ChatService) -> None:
    biz = await make_business(api, customers=1, staff=1)
    owner = biz["people"]["owner"]["id"]
    sent, failures = await asyncio.to_thread(fuzz, chat_service.config.http.api_public_url,
                                             chat_service.config.api.token, biz["id"], owner, EXAMPLES)
    assert not failures, f"{len(failures)} operations failed after {sent} requests:\n\n" + "\n\n".join(failures)
    assert sent > 200
    # The link survived whatever was sent.
    assert chat_service.component.state.connected
    health = await api.call("GET", "/healthz", expect=200)
    assert health["xmpp"]["connected"] is True and health["database"]["state"] == "ok"
