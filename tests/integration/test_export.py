"""Exports end to end: a day of chats in rooms of two businesses, then the owner of one exports it (API and
ad-hoc command): exactly what was said there, who read what and when, the audit log; nothing of the other
business; refusals and bad input named."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import aiohttp
import pytest
from slixmpp.exceptions import IqError
from sqlalchemy import update

from dotimely_chat.app import ChatService
from dotimely_chat.storage.models.compliance import ExportLink

from ..support.business import Api, make_business
from ..support.clients import ClientFactory
from ..support.rooms import book, join, start
from ..support.status import Member, status_of
from ..support.waiting import eventually

pytestmark = pytest.mark.servers("prosody", "ejabberd")

OOB = "jabber:x:oob"


async def export(api: Api, business: str, expect: int = 200, **query: str) -> tuple[int, dict[str, str], str]:
    async with api.http.get(f"{api.base}/v1/businesses/{business}/export", params=query,
                            headers=api.headers) as response:
        text = await response.text()
        assert response.status == expect, (response.status, text[:500])
        return response.status, dict(response.headers), text


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


async def a_day_of_chats(api: Api, xmpp_clients: ClientFactory) -> dict[str, Any]:
    """Business A: two rooms (one of them cancelled afterwards), read markers, an attachment. Business B: one
    room. Returns what the test needs."""
    a, b = await make_business(api, customers=2, staff=1), await make_business(api, customers=1, staff=1)
    room1 = (await start(api, a, "customer0", await book(api, a)))["jid"]
    cancelled = await book(api, a, customer="customer1", days=3, service="Massage")
    room2 = (await start(api, a, "customer1", cancelled))["jid"]
    room_b = (await start(api, b, "customer0", await book(api, b)))["jid"]
    clients = {}
    for biz, key in ((a, "customer0"), (a, "customer1"), (a, "staff0"), (b, "customer0")):
        person = biz["people"][key]
        clients[(biz["id"], key)] = await xmpp_clients.connect(person["jid"], person["password"], "xep_0045")
    cathy, carl, stan = (clients[(a["id"], k)] for k in ("customer0", "customer1", "staff0"))
    await join(cathy, room1, "cathy")
    await join(stan, room1, "stan")
    speaker, listener = Member(cathy, room1), Member(stan, room1)
    hello = await speaker.say("Hello <script>alert('x')</script> & see you")
    reply = await listener.say("Fine, see you at 10")
    url = "https://uploads.example.test/f/abc/photo.jpg"
    photo = cathy.make_message(mto=room1, mtype="groupchat", mbody=url)
    x = photo.xml.makeelement(f"{{{OOB}}}x", {})
    url_element = x.makeelement(f"{{{OOB}}}url", {})
    url_element.text = url
    x.append(url_element)
    photo.xml.append(x)
    photo.send()
    listener.mark("displayed", hello)
    await eventually(lambda: _read(api, a, room1, hello), 5)
    await join(carl, room2, "carl")
    cancel_text = await Member(carl, room2).say("I need to cancel, sorry")
    await api.call("DELETE", f"/v1/businesses/{a['id']}/appointments/{cancelled}", expect=200)
    other = clients[(b["id"], "customer0")]
    await join(other, room_b, "bea")
    await Member(other, room_b).say("B secret: never in A's export")
    return {"a": a, "b": b, "room1": room1, "room2": room2, "room_b": room_b, "hello": hello, "reply": reply,
            "cancel_text": cancel_text, "url": url}


async def _read(api: Api, biz: dict[str, Any], room: str, stanza: str) -> bool:
    status = await status_of(api, biz, room, stanza, expect=None)
    return any(m.get("read_at") for m in status.get("members", []))


async def test_the_owner_exports_exactly_their_business_with_who_read_what(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    day = await a_day_of_chats(api, xmpp_clients)
    a = day["a"]
    _, headers, text = await export(api, a["id"], viewer=a["people"]["owner"]["id"])
    assert headers["Content-Type"].startswith("application/x-ndjson")
    records = jsonl(text)
    assert records[0]["type"] == "export" and records[0]["business"] == a["id"]
    assert records[-1]["type"] == "end"
    rooms = {r["room"]: r for r in records if r["type"] == "room"}
    assert set(rooms) == {day["room1"], day["room2"]}, "every room of A, the cancelled one too; none of B"
    assert rooms[day["room2"]]["appointment"]["status"] == "cancelled"
    messages = [r for r in records if r["type"] == "message"]
    assert not any("B secret" in (m["body"] or "") for m in messages)
    assert {m["room"] for m in messages} <= {day["room1"], day["room2"]}
    by_id = {m["stanza_id"]: m for m in messages}
    hello = by_id[day["hello"]]
    cathy = a["people"]["customer0"]["jid"]
    assert hello["sender"]["jid"] == cathy and hello["sender"]["role"] == "customer"
    assert hello["sender"]["name"] == "Cathy Customer0"
    assert hello["body"].startswith("Hello <script>") and hello["appointment"]
    members = {m["jid"]: m for m in hello["members"]}
    staff, owner = a["people"]["staff0"]["jid"], a["people"]["owner"]["jid"]
    assert members[staff]["read_at"] and members[staff]["delivered_at"] and members[staff]["role"] == "staff"
    assert members[owner]["read_at"] is None
    assert by_id[day["reply"]]["sender"]["role"] == "staff"
    photo = next(m for m in messages if m["attachments"])
    assert photo["attachments"] == [day["url"]] and photo["sender"]["jid"] == cathy
    assert by_id[day["cancel_text"]]["room"] == day["room2"]
    notices = [m for m in messages if m["sender"]["role"] == "system"]
    assert any("cancel" in (m["body"] or "").lower() for m in notices)
    assert not any(m["body"] is None and not m["attachments"] for m in messages), "markers are not messages"
    audit = [r for r in records if r["type"] == "audit"]
    assert {"room_created", "member_added"} <= {r["action"] for r in audit}
    assert all(r["room"] in (None, day["room1"], day["room2"]) for r in audit)
    assert records[-1]["messages"] == len(messages) and records[-1]["rooms"] == 2

    # The HTML transcript: the same conversation, escaped, loading nothing.
    _, headers, html = await export(api, a["id"], format="html")
    assert headers["Content-Type"].startswith("text/html") and "default-src 'none'" in headers[
        "Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and "attachment" in headers["Content-Disposition"]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; see you" in html
    assert "<script>" not in html and "B secret" not in html
    assert "Cathy Customer0" in html and "Massage" in html and f'href="{day["url"]}"' in html
    assert "End of export" in html

    # Both exports are in the audit log: who, when, which range.
    log = (await api.call("GET", f"/v1/businesses/{a['id']}/audit", expect=200))["entries"]
    exports = [e for e in log if e["action"] == "export"]
    assert [(e["actor"], e["details"]["format"], e["details"]["via"]) for e in exports] == [
        (owner, "jsonl", "api"), ("api", "html", "api")]
    assert exports[0]["details"]["from"] < exports[0]["details"]["to"]
    # Business B's own export has none of A.
    _, _, text_b = await export(api, day["b"]["id"])
    assert "B secret" in text_b and day["room1"] not in text_b and "Hello" not in text_b


async def test_only_owners_export_and_bad_input_is_named(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    a, b = await make_business(api, customers=1, staff=1), await make_business(api, customers=1, staff=0)
    for key in ("staff0", "customer0"):
        _, _, text = await export(api, a["id"], expect=403, viewer=a["people"][key]["id"])
        assert json.loads(text)["errcode"] == "forbidden" and "owner" in json.loads(text)["error"]
    _, _, text = await export(api, a["id"], expect=403, viewer=b["people"]["owner"]["id"])
    assert "owner" in json.loads(text)["error"]
    cases = [({"format": "pdf"}, "format", "'pdf'", "'jsonl' or 'html'"),
             ({"from": "yesterday"}, "from", "'yesterday'", "ISO 8601"),
             ({"from": "2026-01-01T10:00:00"}, "from", "2026-01-01T10:00:00", "time zone"),
             ({"from": "2025-02-01", "to": "2025-01-01"}, "from", "2025-02-01", "before 'to'"),
             ({"from": "2000-01-01", "to": "2025-01-01"}, "from", "2000-01-01", "at most"),
             ({"to": "2999-01-01"}, "to", "2999-01-01", "no later than")]
    for query, parameter, value, allowed in cases:
        _, _, text = await export(api, a["id"], expect=400, **query)
        body = json.loads(text)
        assert body["errcode"] == "bad_request" and body["details"]["field"] == parameter, body
        assert body["error"].startswith(f"{parameter}:") and value in body["error"] and allowed in body["error"]
    await export(api, "no-such-business", expect=404)
    async with api.http.get(f"{api.base}/v1/businesses/{a['id']}/export") as response:
        assert response.status == 401


async def test_the_export_command_gives_owners_a_link_that_works_once(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    a = await make_business(api, customers=1, staff=1)
    room = (await start(api, a, "customer0", await book(api, a)))["jid"]
    customer = a["people"]["customer0"]
    talker = await xmpp_clients.connect(customer["jid"], customer["password"], "xep_0045")
    await join(talker, room, "cathy")
    await Member(talker, room).say("Exported through a link")
    component = chat_service.config.component.jid

    for key in ("staff0", "customer0"):
        person = a["people"][key]
        client = await xmpp_clients.connect(person["jid"], person["password"], "xep_0050")
        with pytest.raises(IqError) as refused:
            await client.plugin["xep_0050"].send_command(component, "export", timeout=10)
        assert refused.value.condition == "forbidden"

    owner = a["people"]["owner"]
    adhoc = (await xmpp_clients.connect(owner["jid"], owner["password"], "xep_0050")).plugin["xep_0050"]

    async def run(values: dict[str, str]) -> Any:
        first = await adhoc.send_command(component, "export", timeout=10)
        form = first["command"]["form"]
        assert {o["value"] for o in form.get_fields()["business"].get_options()} == {a["id"]}
        form["type"] = "submit"
        form.set_values({**{k: str(v["value"]) for k, v in form.get_fields().items() if k != "business"},
                         "business": a["id"], **values})
        return await adhoc.send_command(component, "export", sessionid=first["command"]["sessionid"],
                                        action="complete", payload=form, timeout=10)

    with pytest.raises(IqError) as bad:
        await run({"from": "last week"})
    assert bad.value.condition == "bad-request" and "from" in bad.value.text
    done = await run({"format": "html"})
    url = str(done["command"]["form"]["values"]["url"])
    assert url.startswith(chat_service.config.http.api_public_url + "/v1/exports/")
    assert len(url.rsplit("/", 1)[1]) >= 43, "256 random bits"

    async with aiohttp.ClientSession() as anonymous:  # the link is the credential: no bearer token
        async with anonymous.get(url) as response:
            assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")
            assert "Exported through a link" in await response.text()
        async with anonymous.get(url) as response:
            body = await response.json()
            assert response.status == 410 and body["errcode"] == "link_gone" and "used" in body["error"]
        async with anonymous.get(url[:-4] + "xxxx") as response:
            assert response.status == 404

        expired = str((await run({"format": "jsonl"}))["command"]["form"]["values"]["url"])
        async with chat_service.database.session() as session:
            await session.execute(update(ExportLink).where(ExportLink.used_at.is_(None)).values(
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
            await session.commit()
        async with anonymous.get(expired) as response:
            body = await response.json()
            assert response.status == 410 and "expired" in body["error"]

    log = (await api.call("GET", f"/v1/businesses/{a['id']}/audit", expect=200))["entries"]
    actions = [(e["action"], e["actor"], e["details"].get("via")) for e in log
               if e["action"].startswith("export")]
    assert actions == [("export_link_issued", owner["jid"], None), ("export", owner["jid"], "link"),
                       ("export_link_issued", owner["jid"], None)]
