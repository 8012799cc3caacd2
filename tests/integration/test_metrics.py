"""GET /metrics after real traffic: room messages and markers from real clients, uploads, API calls, a lost
and restored link with back-fill. Each test reads the metrics before and after and checks the counters
moved by exactly what happened (parsed with prometheus_client's own parser)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from slixmpp.exceptions import IqError

from dotimely_chat.app import ChatService

from ..support.business import Api, make_business
from ..support.clients import ClientFactory
from ..support.link import not_connected, resynced
from ..support.rooms import join
from ..support.status import Member, room_with_people
from ..support.uploads import UploadEnv
from ..support.waiting import eventually

pytestmark = pytest.mark.servers("prosody", "ejabberd")

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 12



class Scrape:
    def __init__(self, text: str) -> None:
        self.text = text
        self.values = {(s.name, frozenset(s.labels.items())): s.value
                       for family in text_string_to_metric_families(text) for s in family.samples}

    def __call__(self, name: str, **labels: str) -> float:
        return self.values.get((name, frozenset(labels.items())), 0.0)


async def scrape(service: ChatService) -> Scrape:
    """What Prometheus reads: no token."""
    async with aiohttp.ClientSession() as http, \
            http.get(f"{service.config.http.api_public_url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return Scrape(await response.text())


def moved(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after(name, **labels) - before(name, **labels)


async def test_room_messages_and_read_markers_move_the_recorder_figures(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    _, room, clients = await room_with_people(api, xmpp_clients)
    await join(clients["customer0"], room, "customer")
    await join(clients["staff0"], room, "staff")
    speaker, reader = Member(clients["customer0"], room), Member(clients["staff0"], room)
    await asyncio.sleep(0.2)  # the joins are committed
    before = await scrape(chat_service)

    await speaker.say("Is 10:00 still fine?")
    second = await speaker.say("I might be 5 minutes late")
    reader.mark("displayed", second)
    reader.mark("displayed", "no-such-message")  # names nothing: not counted

    async def marker_recorded() -> bool:
        return moved(before, await scrape(chat_service), "dotimely_recorder_markers_total") >= 1

    await eventually(marker_recorded, 5.0)
    await asyncio.sleep(0.3)  # anything else would have been committed by now
    after = await scrape(chat_service)
    assert moved(before, after, "dotimely_recorder_messages_total") == 2
    assert moved(before, after, "dotimely_recorder_markers_total") == 1
    # Every event handed to the recorder has its arrival-to-commit time in the histogram.
    assert moved(before, after, "dotimely_recorder_lag_seconds_count") >= 4
    assert moved(before, after, "dotimely_recorder_lag_seconds_sum") > 0
    assert after("dotimely_recorder_lag_seconds_bucket", le="+Inf") == after("dotimely_recorder_lag_seconds_count")
    assert after("dotimely_recorder_queue_depth") == 0 and after("dotimely_recorder_held_events") == 0
    assert after("dotimely_xmpp_link_up") == 1 and after("dotimely_xmpp_link_resynchronised") == 1


async def test_api_calls_are_counted_by_route_template_without_ids(
    api: Api, chat_service: ChatService
) -> None:
    before = await scrape(chat_service)
    biz = await make_business(api, customers=2, staff=1)  # 1 business + 4 people, all new
    await api.call("GET", f"/v1/businesses/{biz['id']}/people/{biz['people']['customer0']['id']}", expect=200)
    await api.call("GET", f"/v1/businesses/{biz['id']}/people/nobody-{biz['id']}", expect=404)
    after = await scrape(chat_service)

    def requests(method: str, route: str, status: int) -> float:
        return moved(before, after, "dotimely_http_requests_total", server="api", method=method, route=route,
                     status=str(status))

    assert requests("PUT", "/v1/businesses/{business}", 201) == 1
    assert requests("PUT", "/v1/businesses/{business}/people/{person}", 201) == 4
    assert requests("GET", "/v1/businesses/{business}/people/{person}", 200) == 1
    assert requests("GET", "/v1/businesses/{business}/people/{person}", 404) == 1
    assert requests("GET", "/metrics", 200) == 1, "the first scrape, counted by the second"
    for raw in (biz["id"], *(p["id"] for p in biz["people"].values()), *(p["jid"] for p in biz["people"].values())):
        assert raw not in after.text


async def test_uploads_bytes_and_refusals_are_counted(upload_env: UploadEnv) -> None:
    env = upload_env
    before = await scrape(env.service)
    await env.upload(env.customer, "photo.png", PNG, "image/png")
    with pytest.raises(IqError):
        await env.slot(env.customer, "setup.exe", 100, "application/x-msdownload")
    url, token = await env.slot(env.customer, "other.png", len(PNG), "image/png")
    assert (await env.put(url, "x" * 43, PNG, "image/png"))[0] == 403
    assert (await env.put(url, token, PNG, "image/jpeg"))[0] == 415
    assert (await env.put(url, token, PNG[:-1], "image/png"))[0] == 400
    after = await scrape(env.service)

    assert moved(before, after, "dotimely_upload_slots_total") == 2
    assert moved(before, after, "dotimely_uploads_total") == 1
    assert moved(before, after, "dotimely_upload_bytes_total") == len(PNG)
    refusals: dict[tuple[str, str], float] = {}
    for name, labels in after.values:
        if name == "dotimely_upload_refusals_total":
            key = dict(labels)
            if delta := moved(before, after, name, **key):
                refusals[(key["stage"], key["reason"])] = delta
    assert refusals == {("slot", "type_not_allowed"): 1, ("put", "wrong_token"): 1, ("put", "type_mismatch"): 1,
                        ("put", "size_mismatch"): 1}
    puts = {status: moved(before, after, "dotimely_http_requests_total", server="upload", method="PUT",
                          route="/{tail}", status=status) for status in ("201", "403", "415", "400")}
    assert puts == {"201": 1, "403": 1, "415": 1, "400": 1}


async def test_a_lost_link_its_reconnect_and_the_back_fill_are_counted(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    _, room, clients = await room_with_people(api, xmpp_clients)
    await join(clients["customer0"], room, "customer")
    await join(clients["staff0"], room, "staff")
    speaker = Member(clients["customer0"], room)
    await speaker.say("before the component goes away")
    await asyncio.sleep(0.3)
    before = await scrape(chat_service)
    assert before("dotimely_xmpp_link_up") == 1 and before("dotimely_xmpp_link_reconnects_total") == 0
    assert before("dotimely_backfill_runs_total", outcome="done") == 1, "the first connection's back-fill"

    link = chat_service.component
    connections = link.state.connections
    await link.stop()
    await eventually(lambda: not_connected(chat_service), 5)
    away = await scrape(chat_service)
    assert away("dotimely_xmpp_link_up") == 0
    await speaker.say("said while nobody records")
    await speaker.say("and one more")
    link.start()
    await eventually(lambda: resynced(chat_service, connections + 1), 20)
    await asyncio.sleep(0.3)
    after = await scrape(chat_service)

    assert after("dotimely_xmpp_link_up") == 1
    assert moved(before, after, "dotimely_xmpp_link_reconnects_total") == 1
    assert moved(before, after, "dotimely_xmpp_link_connections_total") == 1
    assert moved(before, after, "dotimely_backfill_runs_total", outcome="done") == 1
    assert moved(before, after, "dotimely_backfill_runs_total", outcome="failed") == 0
    assert moved(before, after, "dotimely_backfill_messages_total") == 2, "the two said while away"
    assert moved(before, after, "dotimely_backfill_room_failures_total") == 0
    assert moved(before, after, "dotimely_recorder_messages_total") == 2
