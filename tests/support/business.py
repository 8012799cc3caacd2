"""Provisioning through the HTTP API for the integration tests: a client for the API and businesses."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from slixmpp import ClientXMPP

from dotimely_chat.app import ChatService


class Api:
    def __init__(self, service: ChatService, http: aiohttp.ClientSession) -> None:
        self.base = service.config.http.api_public_url
        self.http = http
        self.headers = {"Authorization": f"Bearer {service.config.api.token}"}

    async def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        async with self.http.request(method, self.base + path, json=body, headers=self.headers) as response:
            data = await response.json()
            if expect is not None:
                assert response.status == expect, (response.status, data)
            return data


def unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns()}"


async def roster_of(client: ClientXMPP) -> dict[str, tuple[str, list[str], str]]:
    """The server's copy, asked without a roster version (slixmpp's get_roster may get an empty delta)."""
    iq = client.make_iq_get(queryxmlns="jabber:iq:roster")
    items = (await iq.send(timeout=10))["roster"]["items"]
    return {str(jid): (item["name"], sorted(item["groups"]), item["subscription"]) for jid, item in items.items()}


async def make_business(api: Api, customers: int = 2, staff: int = 1, owners: int = 1) -> dict[str, Any]:
    """A business made through the API, the one way tests make one: the product creates the accounts and sets
    every roster. Returns ids, JIDs and generated passwords; people are keyed "owner" (then "owner1", ...),
    "staff0", ..., "customer0", ...; `tests.support.people.business_of` gives them as `Person`s."""
    business = unique("biz")
    await api.call("PUT", f"/v1/businesses/{business}", {"name": f"Salon {business}"}, expect=201)
    people: dict[str, dict[str, Any]] = {}
    plan = [("owner" if i == 0 else f"owner{i}", "owner", "Olga Owner" if i == 0 else f"Olga Owner{i}")
            for i in range(owners)] \
        + [(f"staff{i}", "staff", f"Stan Staff{i}") for i in range(staff)] \
        + [(f"customer{i}", "customer", f"Cathy Customer{i}") for i in range(customers)]
    for key, role, name in plan:
        person = unique(key)
        body = await api.call("PUT", f"/v1/businesses/{business}/people/{person}",
                              {"role": role, "display_name": name, "email": f"{key}@mail.test"}, expect=201)
        assert body["roster_synced"] is True and body["password"]
        people[key] = {**body, "id": person}
    return {"id": business, "people": people}
