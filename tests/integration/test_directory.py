"""The directory through the HTTP API, with the rosters it drives on the real server, and Start New
(XEP-0055 search and the `new-conversation` command) from real clients."""

from __future__ import annotations

import asyncio
import time

import pytest
from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError

from dotimely_chat.app import ChatService
from dotimely_chat.servers.accounts import AccountCommandError

from ..support.business import Api, make_business, roster_of, unique
from ..support.clients import ClientFactory

pytestmark = pytest.mark.servers("prosody", "ejabberd")


async def test_people_get_accounts_and_rosters_follow_roles(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api)
    owner, customer, staff = biz["people"]["owner"], biz["people"]["customer0"], biz["people"]["staff0"]
    component = chat_service.config.component.jid

    owner_client = await xmpp_clients.connect(owner["jid"], owner["password"])
    roster = await roster_of(owner_client)
    assert roster[customer["jid"]] == ("Cathy Customer0", ["Customers"], "both")
    assert roster[staff["jid"]] == ("Stan Staff0", ["Staff"], "both")
    assert roster[component][2] == "both"

    customer_client = await xmpp_clients.connect(customer["jid"], customer["password"])
    customer_roster = await roster_of(customer_client)
    assert customer_roster[owner["jid"]] == ("Olga Owner", ["Owners"], "both")
    assert staff["jid"] not in customer_roster and biz["people"]["customer1"]["jid"] not in customer_roster

    # A role change regroups; removing the membership removes the entries on both sides.
    path = f"/v1/businesses/{biz['id']}/people/{customer['id']}"
    changed = await api.call("PUT", path, {"role": "staff", "display_name": "Cathy Now Staff"}, expect=200)
    assert changed["role"] == "staff" and "password" not in changed
    assert (await roster_of(owner_client))[customer["jid"]] == ("Cathy Now Staff", ["Staff"], "both")
    await api.call("DELETE", path, expect=200)
    assert customer["jid"] not in await roster_of(owner_client)
    left = await roster_of(customer_client)
    assert owner["jid"] not in left and component not in left
    await api.call("GET", path, expect=404)


async def test_only_entries_of_the_business_are_removed(api: Api, xmpp_clients: ClientFactory) -> None:
    first = await make_business(api, customers=1, staff=0)
    owner, customer = first["people"]["owner"], first["people"]["customer0"]
    second = unique("biz")
    await api.call("PUT", f"/v1/businesses/{second}", {"name": "Second"}, expect=201)
    await api.call("PUT", f"/v1/businesses/{second}/people/{owner['id']}",
                   {"role": "owner", "display_name": "Olga Owner"}, expect=201)
    await api.call("PUT", f"/v1/businesses/{second}/people/{customer['id']}",
                   {"role": "customer", "display_name": "Cathy Customer0"}, expect=201)

    owner_client = await xmpp_clients.connect(owner["jid"], owner["password"])
    friend, _ = xmpp_clients.account()
    owner_client.update_roster(friend, name="A friend", subscription="none")  # the owner's own contact
    await asyncio.sleep(0.3)
    await api.call("DELETE", f"/v1/businesses/{first['id']}/people/{customer['id']}", expect=200)
    roster = await roster_of(owner_client)
    assert roster[customer["jid"]][2] == "both", "still a customer of the second business"
    await api.call("DELETE", f"/v1/businesses/{second}", expect=200)
    roster = await roster_of(owner_client)
    assert customer["jid"] not in roster
    assert friend in roster, "a contact the owner added themselves is never removed"


async def test_drift_is_repaired_after_a_reconnect_and_unchanged_rosters_are_not_pushed(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=1, staff=0)
    owner, customer = biz["people"]["owner"], biz["people"]["customer0"]
    customer_client = await xmpp_clients.connect(customer["jid"], customer["password"])
    customer_client.del_roster_item(owner["jid"])
    await asyncio.sleep(0.3)
    assert owner["jid"] not in await roster_of(customer_client)

    link = chat_service.component
    connections = link.state.connections
    link.disconnect(reason="test: simulate a lost link")
    deadline = time.monotonic() + 20
    while not (link.state.connections > connections and link.state.resyncs_completed == link.state.connections):
        assert time.monotonic() < deadline, link.state
        await asyncio.sleep(0.1)
    assert (await roster_of(customer_client))[owner["jid"]] == ("Olga Owner", ["Owners"], "both")

    unchanged = await chat_service.rosters.reconcile_all()
    assert (unchanged.set, unchanged.removed, unchanged.failed) == (0, 0, 0)


async def test_bad_input_gets_clear_errors_and_changes_nothing(api: Api, xmpp_clients: ClientFactory) -> None:
    biz = await make_business(api, customers=1, staff=0)
    base = f"/v1/businesses/{biz['id']}/people"
    owner = biz["people"]["owner"]
    cases = [
        ("PUT", "/v1/businesses/nope/people/p1", {"role": "owner", "display_name": "X"}, 404, "not_found"),
        ("PUT", f"{base}/p-bad-role", {"role": "boss", "display_name": "X"}, 400, "bad_request"),
        ("PUT", f"{base}/p-no-name", {"role": "staff", "display_name": "  "}, 400, "bad_request"),
        ("PUT", f"{base}/p-bad-jid", {"role": "staff", "display_name": "X", "jid": "not a jid"}, 400,
         "bad_request"),
        ("PUT", f"{base}/p-other-domain", {"role": "staff", "display_name": "X", "jid": "x@elsewhere.org"},
         400, "bad_request"),
        ("PUT", f"{base}/p-dup-jid", {"role": "staff", "display_name": "X", "jid": owner["jid"]}, 409,
         "conflict"),
        ("PUT", f"{base}/p-extra", {"role": "staff", "display_name": "X", "admin": True}, 400, "bad_request"),
        ("DELETE", f"{base}/{owner['id']}", None, 409, "last_owner"),
        ("PUT", f"{base}/{owner['id']}", {"role": "customer", "display_name": "X"}, 409, "last_owner"),
        ("GET", f"{base}?role=boss", None, 400, "bad_request"),
        ("DELETE", f"{base}/nobody", None, 404, "not_found"),
    ]
    for method, path, body, status, errcode in cases:
        answer = await api.call(method, path, body, expect=status)
        assert answer["errcode"] == errcode, (path, answer)
        assert answer["error"]
    bad_role = await api.call("PUT", f"{base}/p-bad-role", {"role": "boss", "display_name": "X"})
    assert bad_role["details"]["field"] == "role" and "'boss'" in bad_role["error"]
    async with api.http.put(api.base + f"{base}/p-json", data="{nope", headers={
            **api.headers, "Content-Type": "application/json"}) as response:
        assert response.status == 400 and (await response.json())["errcode"] == "bad_request"
    # Nothing half-done: no refused person is in the directory, and the owner is still the owner.
    listed = await api.call("GET", base, expect=200)
    assert sorted(p["role"] for p in listed["people"]) == ["customer", "owner"]
    for refused in ("p-bad-role", "p-no-name", "p-bad-jid", "p-other-domain", "p-dup-jid", "p-extra", "p-json"):
        await api.call("GET", f"{base}/{refused}", expect=404)
    assert (await api.call("GET", f"{base}/{owner['id']}", expect=200))["role"] == "owner"


async def test_owner_can_search_people_and_list_filters(api: Api) -> None:
    biz = await make_business(api, customers=3, staff=1)
    base = f"/v1/businesses/{biz['id']}/people"
    found = await api.call("GET", f"{base}?q=cathy", expect=200)
    assert len(found["people"]) == 3
    assert (await api.call("GET", f"{base}?q=customer1@mail", expect=200))["people"][0]["display_name"] \
        == "Cathy Customer1"
    staff = await api.call("GET", f"{base}?role=staff", expect=200)
    assert [p["display_name"] for p in staff["people"]] == ["Stan Staff0"]
    page = await api.call("GET", f"{base}?limit=2&offset=0", expect=200)
    assert len(page["people"]) == 2


async def _search(client: ClientXMPP, component: str, fragment: str) -> list[dict[str, str]]:
    plugin = client.plugin["xep_0055"]
    iq = plugin.make_search_iq(ito=component)
    iq["search"]["form"].add_field(var="search", value=fragment)
    reply = await iq.send(timeout=10)
    return list(reply["search"]["form"]["items"])


async def test_xmpp_search_follows_roles_and_never_crosses_businesses(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    first, second = await make_business(api), await make_business(api)
    component = chat_service.config.component.jid
    owner = first["people"]["owner"]
    owner_client = await xmpp_clients.connect(owner["jid"], owner["password"], "xep_0055")
    hits = await _search(owner_client, component, "cathy")
    assert sorted(h["jid"] for h in hits) == sorted(first["people"][f"customer{i}"]["jid"] for i in range(2))
    assert all(h["business"] == f"Salon {first['id']}" for h in hits)
    assert {h["jid"] for h in await _search(owner_client, component, "")} == {
        p["jid"] for k, p in first["people"].items() if k != "owner"}

    customer = first["people"]["customer0"]
    customer_client = await xmpp_clients.connect(customer["jid"], customer["password"], "xep_0055")
    assert [h["jid"] for h in await _search(customer_client, component, "")] == [owner["jid"]]
    assert await _search(customer_client, component, "stan") == []
    stranger, password = xmpp_clients.account()
    stranger_client = await xmpp_clients.connect(stranger, password, "xep_0055")
    assert await _search(stranger_client, component, "") == []
    assert second["people"]["owner"]["jid"] not in {h["jid"] for h in await _search(owner_client, component, "")}


async def test_new_conversation_command_lets_an_owner_pick_a_person(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=2, staff=0)
    component = chat_service.config.component.jid
    owner, customer = biz["people"]["owner"], biz["people"]["customer1"]
    client = await xmpp_clients.connect(owner["jid"], owner["password"], "xep_0050")
    # The owner removed the contact by hand; picking the person brings it back.
    client.del_roster_item(customer["jid"])
    await asyncio.sleep(0.3)

    adhoc = client.plugin["xep_0050"]
    first = await adhoc.send_command(component, "new-conversation", timeout=10)
    session = first["command"]["sessionid"]
    form = first["command"]["form"]
    form["type"] = "submit"
    form.set_values({"query": "Customer1"})
    second = await adhoc.send_command(component, "new-conversation", sessionid=session, action="next",
                                      payload=form, timeout=10)
    options = second["command"]["form"].get_fields()["person"].get_options()
    assert [o["value"] for o in options] == [customer["jid"]]

    # Another resource cannot continue this session.
    intruder = await xmpp_clients.connect(owner["jid"] + "/other", owner["password"], "xep_0050")
    with pytest.raises(IqError) as refused:
        await intruder.plugin["xep_0050"].send_command(component, "new-conversation", sessionid=session,
                                                       action="complete", timeout=10)
    assert refused.value.condition == "item-not-found"

    pick = second["command"]["form"]
    pick["type"] = "submit"
    pick.set_values({"person": customer["jid"]})
    done = await adhoc.send_command(component, "new-conversation", sessionid=session, action="complete",
                                    payload=pick, timeout=10)
    assert done["command"]["status"] == "completed"
    assert done["command"]["form"]["values"]["jid"] == customer["jid"]
    assert (await roster_of(client))[customer["jid"]][2] == "both"


async def test_new_conversation_is_refused_to_staff_and_customers(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=1, staff=1)
    for key in ("staff0", "customer0"):
        person = biz["people"][key]
        client = await xmpp_clients.connect(person["jid"], person["password"], "xep_0050")
        with pytest.raises(IqError) as refused:
            await client.plugin["xep_0050"].send_command(chat_service.config.component.jid, "new-conversation",
                                                         timeout=10)
        assert refused.value.condition == "forbidden"


BAD_TEXT = [  # (field, value): each would make Prosody close the component's stream if sent
    ("password", "secret\bpassword"), ("email", "cathy\x01@mail.test"), ("phone", "+49 30\x0b123"),
    ("display_name", "Cathy\ufffe"), ("password", "lone \ud800 surrogate"),
]


async def test_text_xml_cannot_carry_is_refused_and_the_link_stays_up(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    biz = await make_business(api, customers=1, staff=0)
    owner, customer = biz["people"]["owner"], biz["people"]["customer0"]
    owner_client = await xmpp_clients.connect(owner["jid"], owner["password"])
    component = chat_service.config.component.jid
    connections = chat_service.component.state.connections
    path = f"/v1/businesses/{biz['id']}/people/{customer['id']}"
    for field, value in BAD_TEXT:
        body = {"role": "customer", "display_name": "Cathy Customer0", field: value}
        answer = await api.call("PUT", path, body, expect=400)
        assert answer["errcode"] == "bad_request" and answer["details"]["field"] == field, answer
        assert field in answer["error"] and "U+" in answer["error"]
    # A business id with a control character is not created.
    answer = await api.call("PUT", "/v1/businesses/bad%08id", {"name": "Bad"}, expect=400)
    assert answer["details"]["field"] == "business"
    await api.call("GET", "/v1/businesses/bad%08id", expect=400)

    # The link never went down: the same connection answers pings, and the customer's password still works.
    assert chat_service.component.state.connections == connections and chat_service.component.state.connected
    await owner_client.plugin["xep_0199"].ping(jid=component, timeout=5)
    health = await api.call("GET", "/healthz", expect=200)
    assert health["xmpp"]["connected"] is True
    customer_client = await xmpp_clients.connect(customer["jid"], customer["password"])
    assert owner["jid"] in await roster_of(customer_client)


async def test_the_component_refuses_a_stanza_with_text_xml_cannot_carry(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory
) -> None:
    """The last line of defence: a field the front door forgot must not take the link down either."""
    from dotimely_chat.component.stanza_guard import UnsafeStanzaText

    biz = await make_business(api, customers=1, staff=0)
    customer = biz["people"]["customer0"]
    connections = chat_service.component.state.connections
    # Straight to the account port, past every validation: on Prosody the XEP-0133 command over the link is
    # stopped by the guard; ejabberd's admin API (no stanza) refuses the password itself.
    refused = AccountCommandError if chat_service.server.server == "ejabberd" else UnsafeStanzaText
    with pytest.raises(refused):
        await chat_service.accounts.set_password(customer["jid"], "secret\bpassword")
    roster_set = chat_service.component.make_iq_set(ito=customer["jid"])
    roster_set["roster"]["items"] = {"x@dotimely.test": {"name": "Bad\x07Name", "subscription": "none"}}
    with pytest.raises(UnsafeStanzaText):  # a roster item's name is an attribute
        roster_set.send(timeout=5)
    with pytest.raises(UnsafeStanzaText):
        chat_service.component.send_message(mto=customer["jid"], mbody="bell \x07",
                                            mfrom=chat_service.config.component.jid)
    await asyncio.sleep(0.5)  # what a closed stream would need to show
    assert chat_service.component.state.connections == connections and chat_service.component.state.connected
    client = await xmpp_clients.connect(customer["jid"], customer["password"])  # the old password still works
    await client.plugin["xep_0199"].ping(jid=chat_service.config.component.jid, timeout=5)


async def test_a_person_put_while_the_database_is_locked_is_503_and_leaves_no_account(
    api: Api, chat_service: ChatService, xmpp_clients: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    from dotimely_chat.storage.database import sqlite_file

    biz = await make_business(api, customers=0, staff=0)
    path = f"/v1/businesses/{biz['id']}/people/{unique('locked')}"
    body = {"role": "customer", "display_name": "Lena Locked", "password": "a-long-password"}
    database_file = sqlite_file(chat_service.database.engine.url)
    assert database_file is not None
    other = sqlite3.connect(database_file, isolation_level=None)  # another writer, as another process would be
    other.execute("BEGIN IMMEDIATE")
    try:
        async with api.http.put(api.base + path, json=body, headers=api.headers) as response:
            answer = await response.json()
            assert response.status == 503 and answer["errcode"] == "database_busy", answer
            assert int(response.headers["Retry-After"]) >= 1
    finally:
        other.execute("ROLLBACK")
        other.close()
    made = [r.getMessage().split()[-1] for r in caplog.records if r.getMessage().startswith("Created account")]
    assert [r for r in caplog.records if r.getMessage() == f"Deleted account {made[-1]}"], \
        "the account made for the failed write is deleted again"
    await api.call("GET", path, expect=404)  # nothing written
    assert chat_service.component.state.connected
    created = await api.call("PUT", path, body, expect=201)  # the retry succeeds
    client = await xmpp_clients.connect(created["jid"], "a-long-password")
    assert client.is_connected()
