"""People of test businesses on the session Prosody, and clients that record what reaches them.

Businesses are made through the API (`tests.support.business.make_business`); `business_of` gives their
people as `Person`s by role. The plan the product follows for rosters (PRODUCT.md 2.1), which
test_one_to_one_rules.py checks every roster against:
- each owner has every other member of the business: group "Owners", "Staff" or "Customers" by the
  contact's role, display name, subscription both;
- each staff member and each customer has each owner (group "Owners");
- everyone has the component (name "DoTimely", group "DoTimely", subscription both);
- staff never have customers, customers never have each other, nobody has people of another business.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slixmpp import JID, ClientXMPP
from slixmpp.stanza import Message
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from .clients import ClientFactory

OWNER, STAFF, CUSTOMER = "owner", "staff", "customer"
ROSTER_GROUP = {OWNER: "Owners", STAFF: "Staff", CUSTOMER: "Customers"}
COMPONENT_NAME = "DoTimely"


@dataclass(frozen=True)
class Person:
    jid: str
    password: str
    role: str
    name: str


@dataclass
class Business:
    slug: str
    owners: list[Person] = field(default_factory=list)
    staff: list[Person] = field(default_factory=list)
    customers: list[Person] = field(default_factory=list)

    @property
    def members(self) -> list[Person]:
        return [*self.owners, *self.staff, *self.customers]

    @property
    def owner(self) -> Person:
        return self.owners[0]


def business_of(made: dict[str, Any]) -> Business:
    """The people of a business `make_business` made, by role, in the order they were made."""
    business = Business(slug=made["id"])
    by_role = {OWNER: business.owners, STAFF: business.staff, CUSTOMER: business.customers}
    for person in made["people"].values():
        by_role[person["role"]].append(Person(person["jid"], person["password"], person["role"],
                                              person["display_name"]))
    return business


class Inbox:
    """Every message and presence stanza that reaches one client, in order, with bounded waits."""

    def __init__(self, client: ClientXMPP) -> None:
        self.stanzas: list[StanzaBase] = []
        self._changed = asyncio.Event()
        name = f"inbox-{secrets.token_hex(4)}"
        client.register_handler(Callback(f"{name}-message", MatchXPath("{jabber:client}message"), self._add))
        client.register_handler(Callback(f"{name}-presence", MatchXPath("{jabber:client}presence"),
                                         self._add))

    def _add(self, stanza: StanzaBase) -> None:
        self.stanzas.append(stanza)
        self._changed.set()
        self._changed = asyncio.Event()

    def mark(self) -> int:
        """A position to pass as `since`: only what arrives after this call counts."""
        return len(self.stanzas)

    def matching(self, predicate: Callable[[StanzaBase], bool], since: int = 0) -> list[StanzaBase]:
        return [s for s in self.stanzas[since:] if predicate(s)]

    async def wait_for(self, predicate: Callable[[StanzaBase], bool], timeout: float = 5.0,
                       since: int = 0) -> StanzaBase:
        async def scan() -> StanzaBase:
            seen = since
            while True:
                changed = self._changed
                while seen < len(self.stanzas):
                    stanza = self.stanzas[seen]
                    seen += 1
                    if predicate(stanza):
                        return stanza
                await changed.wait()

        try:
            return await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            what = getattr(predicate, "__doc__", None) or predicate
            raise AssertionError(f"nothing matching {what} arrived within {timeout} s; "
                                 f"got {[str(s) for s in self.stanzas[since:]]}") from None


@dataclass(eq=False)
class Session:
    """One person logged in with one client (one resource)."""

    person: Person
    client: ClientXMPP
    inbox: Inbox

    @property
    def full_jid(self) -> str:
        return str(self.client.boundjid.full)

    @property
    def bare_jid(self) -> str:
        return self.person.jid

    def send(self, to: str, body: str, mtype: str = "chat", receipt: bool = False,
             markable: bool = False) -> Message:
        """Send a message with a fresh id, asking for an XEP-0184 receipt / XEP-0333 markers if told."""
        msg = self.client.make_message(mto=to, mbody=body, mtype=mtype)
        msg["id"] = f"m-{secrets.token_hex(6)}"
        if receipt:
            msg["request_receipt"] = True
        if markable:
            msg.enable("markable")
        msg.send()
        return msg


PLUGINS = ("xep_0012", "xep_0184", "xep_0313", "xep_0333")


async def log_in(xmpp_clients: ClientFactory, person: Person, available: bool = True) -> Session:
    """Log in like an ordinary client: fetch the roster, then (by default) send initial presence."""
    client = await xmpp_clients.connect(person.jid, person.password, *PLUGINS)
    # Subscription requests are answered by the person, never by the library (slixmpp would accept them
    # and subscribe back on its own).
    client.auto_authorize = None
    client.auto_subscribe = False
    session = Session(person, client, Inbox(client))
    await client.get_roster(timeout=10)
    if available:
        client.send_presence()
    return session


def from_(jid: str, body: str | None = None) -> Callable[[StanzaBase], bool]:
    """A message from `jid` (bare or full), with `body` if given. Errors are not messages from `jid`: they
    answer one's own message the server refused to deliver to `jid`."""
    bare = JID(jid).bare

    def match(stanza: StanzaBase) -> bool:
        return (stanza.name == "message" and stanza["from"].bare == bare and stanza["type"] != "error"
                and (body is None or stanza["body"] == body))

    match.__doc__ = f"a message from {jid}" + (f" with body {body!r}" if body else "")
    return match


def presence_from(jid: str, available: bool) -> Callable[[StanzaBase], bool]:
    bare = JID(jid).bare

    def match(stanza: StanzaBase) -> bool:
        if stanza.name != "presence" or stanza["from"].bare != bare:
            return False
        return stanza["type"] == "unavailable" if not available else stanza["type"] in (
            "available", "", "chat", "away", "xa", "dnd")

    match.__doc__ = f"{'available' if available else 'unavailable'} presence from {jid}"
    return match
