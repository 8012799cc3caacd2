"""The web page on a two-node ejabberd cluster (A = 127.0.0.1, B = 127.0.0.2): the customer's page starts on A;
A is stopped in the middle of the conversation; the page goes on through B (dotimely-nodes.js) and the chat
with the owner, logged in on B, goes on both ways."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from dotimely_chat.app import ChatService
from dotimely_chat.servers.ejabberd_cluster import EjabberdCluster
from tests.support.browser import Browser
from tests.support.business import Api, make_business
from tests.support.ejabberd_nodes import login, running_cluster
from tests.support.people import Inbox, from_
from tests.support.service import service_on
from tests.support.web_page import LIST_ITEM, open_as, send

A, B = "ejabberd@127.0.0.1", "ejabberd@127.0.0.2"


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[ChatService]:
    async with running_cluster([A, B], "dotimely-ejabberd-cluster-page-") as cluster, \
            service_on(cluster, tmp_path, connect_timeout=20) as chat:
        chat.cluster = cluster  # type: ignore[attr-defined]  # the test stops a node
        yield chat


def _message(view: str, text: str) -> str:
    return f"{view} .chat-msg__text:text-is('{text}')"


async def test_the_customers_page_goes_on_through_b_when_its_node_a_stops(
    service: ChatService, browser: Browser
) -> None:
    cluster: EjabberdCluster = service.cluster  # type: ignore[attr-defined]
    first, second = service.config.websocket_urls
    assert "127.0.0.1" in first and "127.0.0.2" in second
    async with aiohttp.ClientSession() as http:
        api = Api(service, http)
        biz = await make_business(api, customers=1, staff=1)
        owner, customer = biz["people"]["owner"], biz["people"]["customer0"]
        owner_b = await login(cluster.node(B), owner["jid"], owner["password"])
        await owner_b.get_roster(timeout=10)
        owner_b.send_presence()
        inbox = Inbox(owner_b)

        await open_as(browser, api, biz, "customer0")
        await browser.wait_for(f"body[data-dt-node='{first}']", state="attached", timeout=30)
        view = f'converse-chat[jid="{owner["jid"]}"]'
        owner_b.send_message(mto=customer["jid"], mbody="Your colour is at 10:00.", mtype="chat")
        await browser.wait_for(f'{LIST_ITEM}[data-jid="{owner["jid"]}"]', timeout=20)
        await browser.click(f'{LIST_ITEM}[data-jid="{owner["jid"]}"]')
        await browser.wait_for(_message(view, "Your colour is at 10:00."), timeout=20)

        await cluster.node(A).stop()  # the customer's node goes, in the middle of the conversation
        await browser.wait_for(f"body[data-dt-node='{second}']", state="attached", timeout=60)
        await browser.wait_for(f"{view} textarea.chat-textarea", timeout=30)
        await browser.screenshot("on-node-b")

        owner_b.send_message(mto=customer["jid"], mbody="Still there?", mtype="chat")
        await browser.wait_for(_message(view, "Still there?"), timeout=30)
        await send(browser, "Yes, see you at 10.")
        await inbox.wait_for(from_(customer["jid"], "Yes, see you at 10."), 20)
