"""Bookmarks, names and archive retention on a real ejabberd 23.01 node, through its admin API
(servers/ejabberd_pep.py, servers/ejabberd_retention.py): what real clients then see."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import ssl
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from dotimely_chat.component.link import ChatComponent
from dotimely_chat.component.muc_bookmarks import BookmarkError
from dotimely_chat.servers import ejabberd_pep, ejabberd_process
from dotimely_chat.servers.ejabberd_accounts import EjabberdAccounts, EjabberdAdminApi
from dotimely_chat.servers.ejabberd_pep import EjabberdBookmarks, EjabberdProfile
from dotimely_chat.servers.ejabberd_process import EjabberdProcess
from dotimely_chat.servers.ejabberd_retention import EjabberdArchiveExpiry
from dotimely_chat.servers.tls import LocalCA

from ..support.config import DOMAIN, free_port

NS_STORAGE = "storage:bookmarks"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_EVENT = "http://jabber.org/protocol/pubsub#event"
NS_NICK = "http://jabber.org/protocol/nick"
NS_DATA = "jabber:x:data"
NS_MAM = "urn:xmpp:mam:2"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
DAY_USEC = 86400 * 1_000_000


@pytest.fixture
def node(ejabberd_server: EjabberdProcess) -> EjabberdProcess:
    """The session's ejabberd node (tests/conftest.py)."""
    return ejabberd_server


@pytest.fixture
async def api(node: EjabberdProcess) -> AsyncIterator[EjabberdAdminApi]:
    admin = EjabberdAdminApi(node.api_url)
    yield admin
    await admin.close()


@pytest.fixture
async def component(node: EjabberdProcess) -> AsyncIterator[ChatComponent]:
    """Our link (EjabberdProfile reads back over it, and fails at once when it is down)."""
    link = ChatComponent(node.config)
    link.start()
    try:
        assert await link.wait_connected(15), link.state
        yield link
    finally:
        await link.stop()


@pytest.fixture
def clients(node: EjabberdProcess) -> Iterator[Callable[..., Any]]:
    """log_in(jid, password, *notify) -> a client that has announced `<node>+notify` for each node."""
    started: list[ClientXMPP] = []

    async def log_in(jid: str, password: str, *notify: str) -> ClientXMPP:
        client = ClientXMPP(jid, password)
        client.ssl_context = ssl.create_default_context(
            cafile=str(LocalCA.in_state(node.config.state_directory).certificate))
        for plugin in ("xep_0030", "xep_0115", "xep_0163", "xep_0060"):
            client.register_plugin(plugin)
        for interest in notify:
            client.plugin["xep_0163"].add_interest(interest)
        ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        client.add_event_handler("session_start", lambda _: ready.done() or ready.set_result(True))
        client.add_event_handler("failed_auth", lambda _: ready.done() or ready.set_result(False))
        client.connect("127.0.0.1", node.config.xmpp.client_port)
        assert await asyncio.wait_for(ready, 10), f"{jid} could not log in"
        started.append(client)
        asked: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        client.register_handler(Callback("caps asked", MatchXPath(f"{{jabber:client}}iq/{{{NS_DISCO_INFO}}}query"),
                                         lambda _: asked.done() or asked.set_result(True)))
        client.send_presence()  # with caps: ejabberd then sends PEP events for the +notify nodes
        if notify:  # ejabberd asks for caps it has not seen (once per set of features), then sends events
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asked, 3)
            await asyncio.sleep(0.2)
        return client

    yield log_in
    for client in started:
        client.disconnect()


async def _account(api: EjabberdAdminApi, name: str) -> tuple[str, str]:
    jid, password = f"{name}-{secrets.token_hex(3)}@{DOMAIN}", secrets.token_urlsafe(12)
    assert await EjabberdAccounts(api).create_account(jid, password)
    return jid, password


def _bookmark_events(client: ClientXMPP) -> asyncio.Queue[set[str]]:
    """Room JIDs of each storage:bookmarks event the client receives."""
    events: asyncio.Queue[set[str]] = asyncio.Queue()

    def heard(message: Any) -> None:
        items = message.xml.find(f"{{{NS_EVENT}}}event/{{{NS_EVENT}}}items")
        if items is not None and items.get("node") == NS_STORAGE:
            events.put_nowait({c.get("jid", "") for c in items.iter(f"{{{NS_STORAGE}}}conference")})

    client.register_handler(Callback("bookmark events", MatchXPath(f"{{jabber:client}}message/{{{NS_EVENT}}}event"),
                                     heard))
    return events


async def _next_event(events: asyncio.Queue[set[str]], wanted: Callable[[set[str]], bool]) -> set[str]:
    while True:
        rooms = await asyncio.wait_for(events.get(), 10)
        if wanted(rooms):
            return rooms


async def _iq(client: ClientXMPP, kind: str, child: ET.Element, to: str | None = None) -> ET.Element:
    iq = client.make_iq(ito=to, itype=kind)
    iq.append(child)
    reply = await iq.send(timeout=10)
    return reply.xml  # type: ignore[no-any-return]


async def _pep_rooms(client: ClientXMPP) -> set[str]:
    """What a client reads at login: the storage:bookmarks PEP item of its own account."""
    return await _pep_rooms_of(client, str(client.boundjid.bare))


async def _pep_rooms_of(client: ClientXMPP, jid: str) -> set[str]:
    pubsub = ET.Element(f"{{{NS_PUBSUB}}}pubsub")
    ET.SubElement(pubsub, f"{{{NS_PUBSUB}}}items", node=NS_STORAGE)
    reply = await _iq(client, "get", pubsub, jid)
    return {c.get("jid", "") for c in reply.iter(f"{{{NS_STORAGE}}}conference")}


async def _private_rooms(client: ClientXMPP) -> set[str]:
    """What older clients read: XEP-0049 private storage."""
    query = ET.Element("{jabber:iq:private}query")
    ET.SubElement(query, f"{{{NS_STORAGE}}}storage")
    reply = await _iq(client, "get", query)
    return {c.get("jid", "") for c in reply.iter(f"{{{NS_STORAGE}}}conference")}


def _room(node: EjabberdProcess, name: str) -> str:
    return f"{name}-{secrets.token_hex(3)}@{node.config.muc.host}"


# ------------------------------------------------------------------------------------------ bookmarks


async def test_a_published_bookmark_reaches_the_connected_client_and_the_next_login(
        node: EjabberdProcess, api: EjabberdAdminApi, clients: Callable[..., Any]) -> None:
    bookmarks = EjabberdBookmarks(api)
    jid, password = await _account(api, "bm-cust")
    online = await clients(jid, password, NS_STORAGE)
    events = _bookmark_events(online)
    haircut, colour = _room(node, "haircut"), _room(node, "colour")

    await bookmarks.publish(jid, haircut, "Haircut on Monday", "Cathy")
    assert await _next_event(events, lambda rooms: haircut in rooms) == {haircut}
    await bookmarks.publish(jid, colour, "Colour", "Cathy")
    assert await _next_event(events, lambda rooms: colour in rooms) == {haircut, colour}
    await bookmarks.publish(jid, haircut, "Haircut on Tuesday", "Cathy C")  # again: replaced, not doubled

    assert await bookmarks.read(jid) == {
        haircut: {"name": "Haircut on Tuesday", "autojoin": True, "nick": "Cathy C"},
        colour: {"name": "Colour", "autojoin": True, "nick": "Cathy"},
    }
    later = await clients(jid, password)  # the next login (a second client) reads both stores
    assert await _pep_rooms(later) == {haircut, colour}
    assert await _private_rooms(later) == {haircut, colour}


async def test_a_node_the_users_client_made_otherwise_still_takes_our_bookmarks(
        node: EjabberdProcess, api: EjabberdAdminApi, clients: Callable[..., Any]) -> None:
    """The client created storage:bookmarks not persistent (private_set's publish would then be refused):
    force_node_config keeps the node persistent and whitelisted whoever creates it."""
    jid, password = await _account(api, "bm-client-node")
    client = await clients(jid, password)
    create = ET.fromstring(
        f"<pubsub xmlns='{NS_PUBSUB}'><create node='{NS_STORAGE}'/><configure><x xmlns='{NS_DATA}' type='submit'>"
        "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#node_config</value></field>"
        "<field var='pubsub#persist_items'><value>0</value></field>"
        "<field var='pubsub#access_model'><value>open</value></field></x></configure></pubsub>")
    await _iq(client, "set", create, jid)
    room = _room(node, "haircut")
    await EjabberdBookmarks(api).publish(jid, room, "Haircut", "Cathy")
    assert await _pep_rooms(client) == {room}
    stranger_jid, stranger_password = await _account(api, "bm-stranger")
    stranger = await clients(stranger_jid, stranger_password)
    with pytest.raises(IqError):  # whitelist: nobody else reads a person's rooms
        await _pep_rooms_of(stranger, jid)


async def test_a_bookmark_of_the_users_own_is_kept(node: EjabberdProcess, api: EjabberdAdminApi,
                                                   clients: Callable[..., Any]) -> None:
    """The list is one item: our read-modify-write keeps what the user's client had put there."""
    jid, password = await _account(api, "bm-own")
    client = await clients(jid, password)
    own = ET.fromstring(f"<query xmlns='jabber:iq:private'><storage xmlns='{NS_STORAGE}'>"
                        "<conference jid='club@other.example' autojoin='false' name='Club'/>"
                        "<url name='Site' url='https://example.org'/></storage></query>")
    await _iq(client, "set", own)
    room = _room(node, "haircut")
    bookmarks = EjabberdBookmarks(api)
    await bookmarks.publish(jid, room, "Haircut", "Cathy")
    await bookmarks.retract(jid, room)
    assert await bookmarks.read(jid) == {"club@other.example": {"name": "Club", "autojoin": False, "nick": ""}}
    stored = ET.fromstring(str((await api.call("private_get", user=jid.split("@")[0], host=DOMAIN,
                                               element="storage", ns=NS_STORAGE))[1]["res"]))
    assert stored.find(f".//{{{NS_STORAGE}}}url") is not None


async def test_a_retracted_bookmark_leaves_the_lists(node: EjabberdProcess, api: EjabberdAdminApi,
                                                    clients: Callable[..., Any]) -> None:
    bookmarks = EjabberdBookmarks(api)
    jid, password = await _account(api, "bm-retract")
    online = await clients(jid, password, NS_STORAGE)
    events = _bookmark_events(online)
    kept, gone = _room(node, "kept"), _room(node, "gone")
    await bookmarks.publish(jid, kept, "Kept", "Cathy")
    await bookmarks.publish(jid, gone, "Gone", "Cathy")
    await _next_event(events, lambda rooms: rooms == {kept, gone})

    await bookmarks.retract(jid, gone)
    assert await _next_event(events, lambda rooms: gone not in rooms) == {kept}  # the client's list shrinks
    await bookmarks.retract(jid, gone)  # idempotent
    await bookmarks.retract(jid, _room(node, "never"))
    assert set(await bookmarks.read(jid)) == {kept}
    later = await clients(jid, password)
    assert await _pep_rooms(later) == {kept}
    assert await _private_rooms(later) == {kept}


async def test_bookmark_errors_are_raised(node: EjabberdProcess, api: EjabberdAdminApi,
                                          clients: Callable[..., Any]) -> None:
    bookmarks = EjabberdBookmarks(api)
    room = _room(node, "ghost")
    with pytest.raises(BookmarkError) as refused:  # as mod_privilege on Prosody: no such user
        await bookmarks.publish(f"nobody-{secrets.token_hex(3)}@{DOMAIN}", room, "Ghost", "Ghost")
    assert refused.value.condition == "forbidden", refused.value

    jid, password = await _account(api, "bm-refused")
    refusing = EjabberdAdminApi(api.base_url)  # the real API, but private_set answers 1 (its failure code)
    real_call = refusing.call

    async def call(command: str, **arguments: Any) -> tuple[int, Any]:
        return (200, 1) if command == "private_set" else await real_call(command, **arguments)

    refusing.call = call  # type: ignore[method-assign]
    try:
        with pytest.raises(BookmarkError, match="admin API answered 200 1"):
            await EjabberdBookmarks(refusing).publish(jid, room, "Haircut", "Cathy")
    finally:
        await refusing.close()

    unreachable = EjabberdAdminApi(f"http://127.0.0.1:{free_port()}/api", timeout=2)
    try:
        with pytest.raises(BookmarkError) as down:
            await EjabberdBookmarks(unreachable).read(jid)
        assert down.value.condition == "remote-server-timeout" and "did not answer" in str(down.value)
    finally:
        await unreachable.close()


async def test_a_bookmark_write_answered_500_is_retried_then_given_up(
        node: EjabberdProcess, api: EjabberdAdminApi, clients: Callable[..., Any]) -> None:
    """private_set answers 500 when Mnesia aborts a lock cycle (several users' nodes created at once): the
    whole list is written again, a few times at most (servers/ejabberd_pep.py, EjabberdBookmarks._write)."""
    jid, password = await _account(api, "bm-busy")
    room = _room(node, "busy")
    flaky = EjabberdAdminApi(api.base_url)
    real_call, failures = flaky.call, {"left": 2, "seen": 0}

    async def call(command: str, **arguments: Any) -> tuple[int, Any]:
        if command == "private_set" and failures["left"] != 0:
            failures["left"] -= 1
            failures["seen"] += 1
            return 500, {"status": "error", "code": 500, "message": "internal_error"}
        return await real_call(command, **arguments)

    flaky.call = call  # type: ignore[method-assign]
    try:
        await EjabberdBookmarks(flaky).publish(jid, room, "Haircut", "Cathy")
        assert failures["seen"] == 2
        assert await _private_rooms(await clients(jid, password)) == {room}

        failures["left"], failures["seen"] = -1, 0  # 500 for ever
        with pytest.raises(BookmarkError, match="admin API answered 500"):
            await EjabberdBookmarks(flaky).publish(jid, _room(node, "never"), "Haircut", "Cathy")
        assert failures["seen"] == ejabberd_pep.WRITE_ATTEMPTS
    finally:
        await flaky.close()


# ------------------------------------------------------------------------------------------ names


async def _fetched_nick(client: ClientXMPP, jid: str) -> str | None:
    """What a client does to show a contact's name: pubsub items get of the nick node at their bare JID."""
    pubsub = ET.Element(f"{{{NS_PUBSUB}}}pubsub")
    ET.SubElement(pubsub, f"{{{NS_PUBSUB}}}items", node=NS_NICK)
    try:
        reply = await _iq(client, "get", pubsub, jid)
    except IqError as exc:
        if exc.condition == "item-not-found":
            return None
        raise
    nicks = [n.text for n in reply.iter(f"{{{NS_NICK}}}nick")]
    assert len(nicks) <= 1, nicks
    return nicks[0] if nicks else None


async def _fetched_vcard_name(client: ClientXMPP, jid: str) -> str | None:
    """vcard-temp FN (the web page's Converse, profanity's /info, Gajim's profile window)."""
    reply = await _iq(client, "get", ET.Element("{vcard-temp}vCard"), jid)
    return reply.findtext("{vcard-temp}vCard/{vcard-temp}FN")


async def test_names_are_read_by_another_user(api: EjabberdAdminApi, component: ChatComponent,
                                              clients: Callable[..., Any]) -> None:
    profile = EjabberdProfile(api, component)
    person, _ = await _account(api, "name-staff")
    reader_jid, reader_password = await _account(api, "name-cust")  # not the person's contact
    reader = await clients(reader_jid, reader_password)
    assert await profile.read_nick(person) is None

    await profile.publish_name(person, "Sam Stylist")
    assert await profile.read_nick(person) == "Sam Stylist"
    assert await _fetched_nick(reader, person) == "Sam Stylist"
    assert await _fetched_vcard_name(reader, person) == "Sam Stylist"

    await profile.publish_name(person, "Sam S.")  # renamed
    assert await _fetched_nick(reader, person) == "Sam S."
    assert await _fetched_vcard_name(reader, person) == "Sam S."

    await profile.retract_name(person)
    await profile.retract_name(person)  # idempotent
    assert await profile.read_nick(person) is None
    assert await _fetched_nick(reader, person) is None
    assert not await _fetched_vcard_name(reader, person)


async def test_a_retracted_name_leaves_no_fn_and_keeps_the_rest_of_the_vcard(
        api: EjabberdAdminApi, component: ChatComponent, clients: Callable[..., Any]) -> None:
    """set_vcard with '' would leave an empty <FN/>: the FN goes, what the user's client put there stays."""
    profile = EjabberdProfile(api, component)
    person, password = await _account(api, "name-own-vcard")
    own = await clients(person, password)
    vcard = ET.Element("{vcard-temp}vCard")
    ET.SubElement(vcard, "{vcard-temp}DESC").text = "Colour specialist"
    await _iq(own, "set", vcard)
    await profile.publish_name(person, "Sam Stylist")
    assert await _fetched_vcard_name(own, person) == "Sam Stylist"

    await profile.retract_name(person)
    reply = await _iq(own, "get", ET.Element("{vcard-temp}vCard"), person)
    assert reply.find("{vcard-temp}vCard/{vcard-temp}FN") is None
    assert reply.findtext("{vcard-temp}vCard/{vcard-temp}DESC") == "Colour specialist"


async def test_a_refused_name_is_an_error(api: EjabberdAdminApi, component: ChatComponent,
                                          clients: Callable[..., Any]) -> None:
    """send_stanza answers 0 whatever the inner IQ's fate: the read-back tells."""
    profile = EjabberdProfile(api, component)
    with pytest.raises(BookmarkError) as refused:
        await profile.publish_name(f"nobody-{secrets.token_hex(3)}@{DOMAIN}", "Ghost")
    assert refused.value.condition == "forbidden"

    # The person's client made the nick node readable by nobody else: whatever the publish did, room
    # members cannot read the name there — an error, not a silent success.
    jid, password = await _account(api, "name-private")
    client = await clients(jid, password)
    create = ET.fromstring(
        f"<pubsub xmlns='{NS_PUBSUB}'><create node='{NS_NICK}'/><configure><x xmlns='{NS_DATA}' type='submit'>"
        "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#node_config</value></field>"
        "<field var='pubsub#access_model'><value>whitelist</value></field></x></configure></pubsub>")
    await _iq(client, "set", create, jid)
    with pytest.raises(BookmarkError, match=f"nick of {jid}") as unreadable:
        await profile.publish_name(jid, "Private Person")
    assert unreadable.value.condition == "not-allowed", unreadable.value


async def test_a_nick_node_of_the_persons_own_client_gets_the_name(
        node: EjabberdProcess, api: EjabberdAdminApi, component: ChatComponent,
        clients: Callable[..., Any]) -> None:
    """As on Prosody: the client made the node with access model `presence`; ejabberd refuses our
    publish-options, and we publish into the node as it is (the component, a contact, reads it back)."""
    profile = EjabberdProfile(api, component)
    jid, password = await _account(api, "name-presence")
    status, body = await api.call("add_rosteritem", localuser=jid.split("@")[0], localhost=DOMAIN, user="",
                                  host=node.config.component.jid, nick="DoTimely", group="DoTimely", subs="both")
    assert (status, body) == (200, 0)
    client = await clients(jid, password)
    create = ET.fromstring(
        f"<pubsub xmlns='{NS_PUBSUB}'><create node='{NS_NICK}'/><configure><x xmlns='{NS_DATA}' type='submit'>"
        "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#node_config</value></field>"
        "<field var='pubsub#access_model'><value>presence</value></field></x></configure></pubsub>")
    await _iq(client, "set", create, jid)
    await profile.publish_name(jid, "Pat Presence")
    assert await profile.read_nick(jid) == "Pat Presence"
    assert await _fetched_nick(client, jid) == "Pat Presence"


# ------------------------------------------------------------------------------------------ retention


def _age_archive(node: EjabberdProcess, jid: str, days: int) -> str:
    """Move every message of JID's archive DAYS back in time (ejabberd stamps with its own clock): an Erlang
    call into the node over distribution on its port, as ejabberdctl does."""
    user, host = jid.split("@")
    expression = (
        f"Us = {{<<\"{user}\">>, <<\"{host}\">>}}, "
        "F = fun() -> Ms = mnesia:read(archive_msg, Us), mnesia:delete({archive_msg, Us}), "
        f"[mnesia:write(setelement(4, M, misc:usec_to_now(misc:now_to_usec(element(4, M)) - {days * DAY_USEC})))"
        " || M <- Ms], length(Ms) end, "
        f"io:format(\"~p~n\", [rpc:call('{node.config.ejabberd.node}', mnesia, transaction, [F])]), halt().")
    e = node.config.ejabberd
    command = [ejabberd_process.ERL, "-name", f"probe-{secrets.token_hex(3)}@{e.distribution_interface}",
               "-setcookie", node.paths.cookie_file.read_text().strip(), "-start_epmd", "false",
               "-erl_epmd_port", str(e.distribution_port), "-dist_listen", "false", "-hidden", "-noinput",
               "-eval", expression]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "HOME": tempfile.gettempdir()})
    assert result.stdout.startswith("{atomic,"), result.stdout + result.stderr
    return result.stdout


async def _archived_bodies(client: ClientXMPP) -> list[str]:
    query_id = secrets.token_hex(4)
    bodies: list[str] = []

    def collect(message: Any) -> None:
        result = message.xml.find(f"{{{NS_MAM}}}result")
        if result is not None and result.get("queryid") == query_id:
            bodies.extend(b.text or "" for b in result.iter("{jabber:client}body"))

    client.register_handler(Callback(f"mam {query_id}", MatchXPath(f"{{jabber:client}}message/{{{NS_MAM}}}result"),
                                     collect))
    try:
        await _iq(client, "set", ET.Element(f"{{{NS_MAM}}}query", queryid=query_id))
    finally:
        client.remove_handler(f"mam {query_id}")
    return bodies


async def test_retention_deletes_what_is_older_and_keeps_the_rest(
        node: EjabberdProcess, api: EjabberdAdminApi, component: ChatComponent,
        clients: Callable[..., Any]) -> None:
    jid, password = await _account(api, "ret-cust")
    client = await clients(jid, password)

    async def archived_soon(count: int) -> list[str]:
        for _ in range(100):
            bodies = await _archived_bodies(client)
            if len(bodies) >= count:
                return bodies
            await asyncio.sleep(0.05)
        raise AssertionError(f"archive of {jid} has {bodies}")

    for body in ("old one", "old two"):
        component.send_message(mto=jid, mbody=body, mtype="chat", mfrom=node.config.component.jid)
    assert await archived_soon(2) == ["old one", "old two"]
    assert "{atomic,2}" in _age_archive(node, jid, days=3)
    for body in ("new one", "new two"):
        component.send_message(mto=jid, mbody=body, mtype="chat", mfrom=node.config.component.jid)
    assert await archived_soon(4) == ["old one", "old two", "new one", "new two"]

    expiry = EjabberdArchiveExpiry(api)
    await expiry.delete_older_than(4 * 86400)  # nothing is four days old
    assert await _archived_bodies(client) == ["old one", "old two", "new one", "new two"]
    await EjabberdArchiveExpiry(api).delete_older_than(2 * 86400)
    assert await _archived_bodies(client) == ["new one", "new two"]
