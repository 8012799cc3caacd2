"""The desktop web page as a person uses it, through the browser bridge: a login link, then the page."""

from __future__ import annotations

from typing import Any

from .browser import Browser
from .business import Api

LIST_ITEM = ".dt-conversations .dt-conversation"


async def login_link(api: Api, biz: dict[str, Any], key: str) -> str:
    body = await api.call("POST", f"/v1/businesses/{biz['id']}/people/{biz['people'][key]['id']}/web-login",
                          expect=201)
    return str(body["url"])


async def open_as(browser: Browser, api: Api, biz: dict[str, Any], key: str, page: str = "main") -> None:
    await browser.goto(await login_link(api, biz, key), page=page)
    await browser.wait_for("body.dt-ready", page=page, state="attached", timeout=30)


async def send(browser: Browser, text: str, view: str = "converse-chat", page: str = "main") -> None:
    await browser.call("fill", page=page, selector=f"{view} textarea.chat-textarea", value=text)
    await browser.call("press", page=page, selector=f"{view} textarea.chat-textarea", key="Enter")
