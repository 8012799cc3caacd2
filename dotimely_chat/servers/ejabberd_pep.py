"""Room bookmarks and display names in users' PEP on ejabberd 23.01, through its admin HTTP API.

ejabberd 23.01 grants a component no IQ privilege (XEP-0356 0.2.1, `urn:xmpp:privilege:1`), so what
component/muc_bookmarks.py and component/pep_profile.py do with privileged IQs on Prosody is done here with
the admin API (`EjabberdAdminApi`). Same methods, same errors (`BookmarkError` with an XMPP condition).

Bookmarks are the legacy `storage:bookmarks` (XEP-0048), not XEP-0402, because that is what clients read on
this server: 23.01 advertises `urn:xmpp:bookmarks-conversion:0` and not `urn:xmpp:bookmarks:1#compat`, and
without `#compat` Converse.js (our web page's vendor/converse: `supports(BOOKMARKS2#compat)` else
`storage:bookmarks`), Conversations, Gajim and Dino all read `storage:bookmarks` (EJABBERD.md §2, FACTS.md:
Gajim and profanity saw XEP-0402 rooms on Prosody only through its legacy mirror). The admin command
`private_set` writes them: mod_private stores the `<storage>` and publishes it, in the same call, to the PEP
node `storage:bookmarks` (item `current`, persist_items + whitelist), so a client with
`storage:bookmarks+notify` hears of the room at once, and the call's answer says whether both worked
(unlike `send_stanza`). One item holds every room of the user: adding a room is read (`private_get`) -
modify - write, serialised per user here; a client writing its own list at the same moment can still drop
ours (rooms' reconciliation publishes it again). A removed room reaches online clients as a new list.

Names go where clients look (as on Prosody): the XEP-0172 nick and the vCard 4 PEP nodes, published with
access model `open` through `send_stanza` (no admin command publishes PEP items), and the vcard-temp FN
through `set_vcard` (ejabberd keeps vcard-temp apart from PEP; `set_nickname` would replace the whole vCard
with a NICKNAME; the FN is removed by writing the vCard back without it). Protocol trap: `send_stanza` answers 0 even when the inner IQ fails (the error goes to the
user's bare JID), so every PEP write is checked by reading the node back over the component's own stream
(an `open` node is readable by anyone: that is also how room members read it).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import secrets
import weakref
from collections.abc import Awaitable, Callable
from typing import Any
from xml.etree import ElementTree as ET

from slixmpp import JID, Iq
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import tostring

from ..component.link import ChatComponent
from ..component.muc_bookmarks import (NS_PUBSUB, PUBLISH_OPTIONS_FORM_TYPE, BookmarkError, error_condition,
                                       error_detail)
from ..component.pep_profile import ITEM_ID, NS_NICK, NS_VCARD4_NODE, nick_payload, vcard_payload
from ..errors import LinkUnavailable
from ..services.names import ProfileGateway
from ..services.ports import BookmarkStore
from .ejabberd_accounts import EjabberdAdminApi

log = logging.getLogger(__name__)

NS_STORAGE = "storage:bookmarks"
NS_PRIVATE = "jabber:iq:private"
NS_DATA = "jabber:x:data"
NS_VCARD_TEMP = "vcard-temp"
IQ_TIMEOUT = 10.0
# How long a PEP write made through send_stanza may take to become readable (it is usually at once).
READ_BACK_SECONDS = 1.0
READ_BACK_STEP = 0.05
# private_set attempts when ejabberd answers 500 (see EjabberdBookmarks._write).
WRITE_ATTEMPTS = 4



def _failure(what: str, status: int, body: Any) -> BookmarkError:
    detail = f"{body.get('message', body)} (code {body.get('code', '?')})" if isinstance(body, dict) else str(body)[:300]
    condition = "item-not-found" if status == 404 else "undefined-condition"
    return BookmarkError(f"{what} failed: ejabberd's admin API answered {status} {detail}", condition)


class _AdminCalls:
    """The admin API calls both classes need, with API faults turned into BookmarkError."""

    def __init__(self, api: EjabberdAdminApi) -> None:
        self.api = api

    async def call(self, what: str, command: str, **arguments: Any) -> tuple[int, Any]:
        try:
            return await self.api.call(command, **arguments)
        except LinkUnavailable as exc:
            raise BookmarkError(f"{what} failed: {exc}", "remote-server-timeout") from None

    async def ok(self, what: str, command: str, **arguments: Any) -> None:
        """A command answering 0 on success (rescode)."""
        status, body = await self.call(what, command, **arguments)
        if status != 200 or body != 0:
            raise _failure(what, status, body)

    async def require_account(self, user: JID, what: str) -> None:
        """Like Prosody's mod_privilege, refuse users that do not exist (the API would store data for them)."""
        status, body = await self.call(what, "check_account", user=user.user, host=user.domain)
        if status != 200 or body != 0:
            raise BookmarkError(f"{what} failed: {user.bare} is not an account of this server", "forbidden")


class EjabberdBookmarks(BookmarkStore):
    """Publish, retract and read a user's room bookmarks (`storage:bookmarks`) through the admin API."""

    def __init__(self, api: EjabberdAdminApi) -> None:
        self.calls = _AdminCalls(api)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def publish(self, user_jid: str, room_jid: str, name: str, nick: str) -> None:
        user, room = JID(user_jid), JID(room_jid).bare
        what = f"publishing bookmark {room} for {user.bare}"
        await self.calls.require_account(user, what)
        async with self._lock(user.bare):
            storage = await self._storage(user, what)
            for conference in _conferences(storage, room):
                storage.remove(conference)
            conference = ET.SubElement(storage, f"{{{NS_STORAGE}}}conference",
                                       {"jid": room, "autojoin": "true", "name": name})
            ET.SubElement(conference, f"{{{NS_STORAGE}}}nick").text = nick
            await self._write(user, storage, what)
        log.info("Bookmark %s published for %s", room, user.bare)

    async def retract(self, user_jid: str, room_jid: str) -> None:
        """Idempotent: a room the user has no bookmark for is fine."""
        user, room = JID(user_jid), JID(room_jid).bare
        what = f"retracting bookmark {room} for {user.bare}"
        async with self._lock(user.bare):
            storage = await self._storage(user, what)
            found = _conferences(storage, room)
            if not found:
                log.debug("Bookmark %s of %s was already gone", room, user.bare)
                return
            for conference in found:
                storage.remove(conference)
            await self._write(user, storage, what)
        log.info("Bookmark %s retracted for %s", room, user.bare)

    async def read(self, user_jid: str) -> dict[str, dict[str, Any]]:
        """Room JID -> {'name', 'autojoin', 'nick'}; empty when the user has no bookmarks."""
        user = JID(user_jid)
        storage = await self._storage(user, f"reading the bookmarks of {user.bare}")
        bookmarks: dict[str, dict[str, Any]] = {}
        for conference in storage.findall(f"{{{NS_STORAGE}}}conference"):
            jid = conference.get("jid", "")
            if not jid:
                continue
            bookmarks[JID(jid).bare] = {
                "name": conference.get("name", ""),
                "autojoin": conference.get("autojoin", "").lower() in ("1", "true"),
                "nick": conference.findtext(f"{{{NS_STORAGE}}}nick") or "",
            }
        return bookmarks

    def _lock(self, user: str) -> asyncio.Lock:
        lock = self._locks.get(user)
        if lock is None:
            lock = self._locks[user] = asyncio.Lock()
        return lock

    async def _storage(self, user: JID, what: str) -> ET.Element:
        """The user's `<storage xmlns='storage:bookmarks'>` (empty when they have none)."""
        status, body = await self.calls.call(what, "private_get", user=user.user, host=user.domain,
                                             element="storage", ns=NS_STORAGE)
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("res"), str):
            raise _failure(what, status, body)
        try:
            query = ET.fromstring(body["res"])
        except ET.ParseError as exc:
            raise BookmarkError(f"{what} failed: private_get answered no XML ({exc})", "undefined-condition") \
                from None
        storage = query.find(f"{{{NS_STORAGE}}}storage")
        return storage if storage is not None else ET.Element(f"{{{NS_STORAGE}}}storage")

    async def _write(self, user: JID, storage: ET.Element, what: str) -> None:
        """private_set stores the list and publishes it to PEP, and answers 1 if either failed.

        Protocol trap (seen on 23.01 with Mnesia): private_set calls for several users at once, each creating
        its user's `storage:bookmarks` PEP node, can deadlock in Mnesia (`{aborted,{cyclic,…,{pubsub_index,
        node},write,…}}` in pubsub_index:new) and the API answers 500 internal_error — on a cluster about one
        call in three when a room opens for three members. The write is the whole list, so it is safe to
        repeat: retry a few times after a short random pause.
        """
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            status, body = await self.calls.call(what, "private_set", user=user.user, host=user.domain,
                                                 element=tostring(storage))
            if status == 200 and body == 0:
                return
            if status != 500 or attempt == WRITE_ATTEMPTS:
                raise _failure(what, status, body)
            log.info("%s: ejabberd answered 500 (attempt %d of %d, most likely a Mnesia lock cycle); "
                     "writing again", what, attempt, WRITE_ATTEMPTS)
            await asyncio.sleep(random.uniform(0.02, 0.1) * attempt)


def _conferences(storage: ET.Element, room: str) -> list[ET.Element]:
    return [c for c in storage.findall(f"{{{NS_STORAGE}}}conference") if JID(c.get("jid", "")).bare == room]


class EjabberdProfile(ProfileGateway):
    """Publish, read and retract a user's nickname and vCard (services.names.ProfileGateway) on ejabberd.

    `component` is the component's stream: it reads the `open` PEP nodes back, as any room member can. While
    the link is down a read fails at once (LinkUnavailable: a person added during a cut is answered at once,
    and the names' resynchronisation publishes what is missing), not after its timeout.
    """

    def __init__(self, api: EjabberdAdminApi, component: ChatComponent, timeout: float = IQ_TIMEOUT) -> None:
        self.calls = _AdminCalls(api)
        self.component = component
        self.timeout = timeout

    async def publish_name(self, user_jid: str, name: str) -> None:
        user = JID(user_jid)
        await self.calls.require_account(user, f"publishing the name of {user.bare}")
        await self._publish(user, NS_NICK, nick_payload(name), name)
        await self._publish(user, NS_VCARD4_NODE, vcard_payload(name), name)
        await self.calls.ok(f"setting the vCard name of {user.bare}", "set_vcard", user=user.user,
                            host=user.domain, name="FN", content=name)
        log.info("Name of %s published (nick, vCard 4, vcard-temp)", user.bare)

    async def read_nick(self, user_jid: str) -> str | None:
        """The published nickname, or None when there is none."""
        payload = await self._read(JID(user_jid), NS_NICK)
        return None if payload is None else (payload.text or "")

    async def retract_name(self, user_jid: str) -> None:
        """Idempotent: no nickname or vCard node is fine."""
        user = JID(user_jid)
        for node in (NS_NICK, NS_VCARD4_NODE):
            what = f"retracting {node} of {user.bare}"
            retract = ET.Element(f"{{{NS_PUBSUB}}}retract", {"node": node, "notify": "true"})
            ET.SubElement(retract, f"{{{NS_PUBSUB}}}item", {"id": ITEM_ID})
            await self._send(user, [retract], what)
            await self._until(functools.partial(self._read, user, node), lambda payload: payload is None, what)
        await self._clear_vcard_name(user)
        log.info("Name of %s retracted", user.bare)

    async def _clear_vcard_name(self, user: JID) -> None:
        """Remove the vcard-temp FN and keep the rest of the user's vCard (a PHOTO, say).

        Protocol trap: `set_vcard` with an empty content leaves an empty `<FN/>` (clients then read the name
        '', not no name), and no admin command removes one field; so the vCard is read, edited and written
        back as the user through send_stanza, then read back (send_stanza hides the answer).
        """
        what = f"clearing the vCard name of {user.bare}"
        vcard = await self._vcard(user, what)
        if vcard is None or vcard.find(f"{{{NS_VCARD_TEMP}}}FN") is None:
            return
        for fn in vcard.findall(f"{{{NS_VCARD_TEMP}}}FN"):
            vcard.remove(fn)
        await self._send_as_user(user, vcard, what)

        async def name() -> ET.Element | None:
            found = await self._vcard(user, what)
            return None if found is None else found.find(f"{{{NS_VCARD_TEMP}}}FN")

        await self._until(name, lambda fn: fn is None, what)

    async def _vcard(self, user: JID, what: str) -> ET.Element | None:
        """The user's vcard-temp as anyone reads it (None when the server has none)."""
        iq = self.component.make_iq_get(ito=user.bare, ifrom=self.component.boundjid.bare)
        ET.SubElement(iq.xml, f"{{{NS_VCARD_TEMP}}}vCard")
        reply = await self._get(iq, what)
        return None if reply is None else reply.find(f"{{{NS_VCARD_TEMP}}}vCard")

    async def _get(self, iq: Iq, what: str) -> ET.Element | None:
        """The reply of an IQ get as the component; None when the server has no such item."""
        try:
            reply = await self.component.on_link(iq.send(timeout=self.timeout), what)
        except IqError as exc:
            # Read the stanza itself: on a component stream the error is in jabber:component:accept, which
            # slixmpp's `condition` does not see (it then reads feature-not-implemented).
            condition = error_condition(exc.iq.xml)
            if condition == "item-not-found":
                return None
            raise BookmarkError(f"{what} failed: {error_detail(exc.iq.xml)}", condition) from None
        except IqTimeout:
            raise BookmarkError(f"{what} timed out", "remote-server-timeout") from None
        return reply.xml

    async def _publish(self, user: JID, node: str, payload: ET.Element, name: str) -> None:
        what = f"publishing {node} for {user.bare}"

        def ours(found: ET.Element | None) -> bool:
            return found is not None and "".join(found.itertext()).strip() == name.strip()

        read = functools.partial(self._read, user, node)
        await self._send(user, _publish_elements(node, payload, with_options=True), what)
        try:
            await self._until(read, ours, what)
            return
        except BookmarkError as exc:
            if exc.condition != "undefined-condition":  # the node is there but we may not read it
                raise
        # The user's client made the node first with another access model: ejabberd refuses a publish whose
        # options differ from the node's configuration; publish into the node as it is (as on Prosody).
        log.info("%s of %s exists with another access model: publishing into it as it is", node, user.bare)
        await self._send(user, _publish_elements(node, payload, with_options=False), what)
        await self._until(read, ours, what)

    async def _send(self, user: JID, pubsub_children: list[ET.Element], what: str) -> None:
        """A pubsub IQ set from and to the user (see _send_as_user)."""
        pubsub = ET.Element(f"{{{NS_PUBSUB}}}pubsub")
        pubsub.extend(pubsub_children)
        await self._send_as_user(user, pubsub, what)

    async def _send_as_user(self, user: JID, payload: ET.Element, what: str) -> None:
        """An IQ set from and to the user, through send_stanza (which answers 0 whatever the IQ's fate)."""
        iq = ET.Element("{jabber:client}iq", {"type": "set", "id": f"dotimely-{secrets.token_hex(6)}"})
        iq.append(payload)
        await self.calls.ok(what, "send_stanza", **{"from": user.bare, "to": user.bare, "stanza": tostring(iq)})

    async def _until(self, read: Callable[[], Awaitable[ET.Element | None]],
                     done: Callable[[ET.Element | None], bool], what: str) -> None:
        """Read the node back until `done` (send_stanza hides the server's answer to the IQ it sent)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READ_BACK_SECONDS
        while True:
            if done(await read()):
                return
            if loop.time() >= deadline:
                raise BookmarkError(f"{what} failed: ejabberd did not apply it (send_stanza does not say why; "
                                    "the server's answer went to the user)", "undefined-condition")
            await asyncio.sleep(READ_BACK_STEP)

    async def _read(self, user: JID, node: str) -> ET.Element | None:
        """The payload of the node's `current` item, read as the component; None when there is none."""
        iq = self.component.make_iq_get(ito=user.bare, ifrom=self.component.boundjid.bare)
        items = ET.SubElement(ET.SubElement(iq.xml, f"{{{NS_PUBSUB}}}pubsub"), f"{{{NS_PUBSUB}}}items",
                              {"node": node})
        ET.SubElement(items, f"{{{NS_PUBSUB}}}item", {"id": ITEM_ID})
        reply = await self._get(iq, f"reading {node} of {user.bare}")
        if reply is None:
            return None
        for item in reply.iter(f"{{{NS_PUBSUB}}}item"):
            for payload in item:
                return payload
        return None


def _publish_elements(node: str, payload: ET.Element, with_options: bool) -> list[ET.Element]:
    """<publish> of the `current` item and, with options, <publish-options> asking for access model open."""
    publish = ET.Element(f"{{{NS_PUBSUB}}}publish", {"node": node})
    ET.SubElement(publish, f"{{{NS_PUBSUB}}}item", {"id": ITEM_ID}).append(payload)
    if not with_options:
        return [publish]
    options = ET.Element(f"{{{NS_PUBSUB}}}publish-options")
    form = ET.SubElement(options, f"{{{NS_DATA}}}x", {"type": "submit"})
    form_type = ET.SubElement(form, f"{{{NS_DATA}}}field", {"var": "FORM_TYPE", "type": "hidden"})
    ET.SubElement(form_type, f"{{{NS_DATA}}}value").text = PUBLISH_OPTIONS_FORM_TYPE
    access = ET.SubElement(form, f"{{{NS_DATA}}}field", {"var": "pubsub#access_model"})
    ET.SubElement(access, f"{{{NS_DATA}}}value").text = "open"
    return [publish, options]
