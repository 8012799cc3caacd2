"""The web page's login link and JSON API over plain HTTP: the cookie, what each role sees, and the
refusals (no cookie, foreign Origin, unknown people, an account whose password we never knew)."""

from __future__ import annotations

import pytest
from typing import Any

import aiohttp

from dotimely_chat.app import ChatService

from ..support.business import Api, make_business
from ..support.rooms import book

pytestmark = pytest.mark.servers("prosody", "ejabberd")


async def login(api: Api, biz: dict[str, Any], key: str) -> aiohttp.ClientSession:
    """A client session carrying the cookie a login link set (sent by hand: the cookie is Secure, as
    browsers accept on http://localhost, and aiohttp's jar does not send it over plain HTTP)."""
    body = await api.call("POST", f"/v1/businesses/{biz['id']}/people/{biz['people'][key]['id']}/web-login",
                          expect=201)
    async with aiohttp.ClientSession() as opener:
        async with opener.get(body["url"].replace("localhost", "127.0.0.1"), allow_redirects=False) as response:
            assert response.status == 302 and response.headers["Location"] == "/web/"
            cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/web/" in cookie and "Secure" in cookie
    return aiohttp.ClientSession(headers={"Cookie": cookie.split(";")[0].split(": ", 1)[-1]},
                                 cookie_jar=aiohttp.DummyCookieJar())


async def test_the_session_gives_the_xmpp_login_and_only_what_the_person_may_see(
    api: Api, chat_service: ChatService
) -> None:
    biz = await make_business(api, customers=2, staff=1)
    people = biz["people"]
    base = chat_service.config.web.public_url.replace("localhost", "127.0.0.1")
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{base}/web/api/xmpp-credentials") as response:
            assert response.status == 401 and (await response.json())["errcode"] == "unauthorized"
        async with anonymous.get(f"{base}/web/") as response:
            csp = response.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp

    staff = await login(api, biz, "staff0")
    async with staff:
        async with staff.get(f"{base}/web/api/xmpp-credentials") as response:
            assert response.headers["Cache-Control"] == "no-store"
            assert await response.json() == {"jid": people["staff0"]["jid"], "password": people["staff0"]["password"]}
        async with staff.get(f"{base}/web/api/people", params={"q": "a"}) as response:
            assert [p["jid"] for p in await response.json()] == [people["owner"]["jid"]]  # owners only
        async with staff.get(f"{base}/web/api/conversations") as response:
            listed = await response.json()
            assert [c["jid"] for c in listed["conversations"]] == [people["owner"]["jid"]]
            assert listed["start_new"] == "appointments"
        appointment = await book(api, biz)
        async with staff.get(f"{base}/web/api/appointments") as response:
            body = await response.json()
            assert body["audiences"] == ["everyone", "owner"]
            assert [a["id"] for a in body["appointments"]] == [appointment]
        payload = {"appointment": appointment, "audience": "owner"}
        async with staff.post(f"{base}/web/api/conversations", json=payload,
                              headers={"Origin": "https://elsewhere.example"}) as response:
            assert response.status == 403  # not from the page
        origin = chat_service.config.web.public_url
        async with staff.post(f"{base}/web/api/conversations", json=payload, headers={"Origin": origin}) as response:
            assert response.status == 201
            room = await response.json()
            assert room["audience"] == "owner"
        async with staff.post(f"{base}/web/api/conversations", json=payload, headers={"Origin": origin}) as response:
            assert response.status == 200 and (await response.json())["jid"] == room["jid"]
        async with staff.get(f"{base}/web/api/presence/{people['customer0']['jid']}") as response:
            assert response.status == 403  # staff see the owners' presence only
        async with staff.get(f"{base}/web/api/presence/{people['owner']['jid']}") as response:
            assert response.status == 200 and (await response.json())["online"] is False


async def test_a_link_for_an_account_whose_password_was_never_known_is_refused_clearly(
    api: Api, chat_service: ChatService
) -> None:
    biz = await make_business(api, customers=1, staff=1)
    person = biz["people"]["customer0"]
    async with chat_service.database.session() as session:
        from sqlalchemy import delete

        from dotimely_chat.storage.models.web import XmppCredential
        await session.execute(delete(XmppCredential))
        await session.commit()
    body = await api.call("POST", f"/v1/businesses/{biz['id']}/people/{person['id']}/web-login", expect=409)
    assert body["errcode"] == "no_web_credentials" and "PUT" in body["error"]
    # Setting a password through the directory makes the link work.
    await api.call("PUT", f"/v1/businesses/{biz['id']}/people/{person['id']}",
                   {"role": "customer", "display_name": "Cathy Customer0", "password": "a-new-password"}, expect=200)
    await api.call("POST", f"/v1/businesses/{biz['id']}/people/{person['id']}/web-login", expect=201)
    await api.call("POST", f"/v1/businesses/{biz['id']}/people/nobody/web-login", expect=404)
