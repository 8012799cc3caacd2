"""Who is whose contact, and who may chat one to one.

Owners chat one to one with everyone of their business; staff and customers only with the owners. Being a
mutual roster contact is what lets a one-to-one message through the server (mod_block_strangers), so the
roster plan and the chat rule are the same fact, stated once here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .roles import Role

GROUP_OF_ROLE: dict[Role, str] = {"owner": "Owners", "staff": "Staff", "customer": "Customers"}
COMPONENT_CONTACT_NAME = "DoTimely"
COMPONENT_CONTACT_GROUP = "DoTimely"  # a group of its own: clients list it apart from people, as a service
# What the sender's client shows beside a one-to-one message the server refused (mod_dotimely_guard).
ONE_TO_ONE_REFUSAL = ("Staff and customers talk in the appointment chat, and one-to-one chats are only with "
                      "the business's owners: this message was not delivered.")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def may_chat_one_to_one(sender: Role, recipient: Role) -> Decision:
    """The rule for two people of the same business."""
    if sender == "owner" or recipient == "owner":
        return Decision(True, "owners chat one to one with everyone of their business")
    if {sender, recipient} == {"staff", "customer"}:
        return Decision(False, "staff and customers talk in appointment rooms, never one to one")
    return Decision(False, f"a {sender} and a {recipient} do not chat one to one; only owners do")


# Every pair of contacts involves this role (see may_chat_one_to_one): lets storage pre-select pairs.
ROLE_IN_EVERY_CONTACT_PAIR: Role = "owner"


def contact_group(viewer: Role, contact: Role) -> str | None:
    """The roster group under which `viewer` sees `contact`, or None if they are not contacts."""
    if may_chat_one_to_one(viewer, contact).allowed:
        return GROUP_OF_ROLE[contact]
    return None


@dataclass(frozen=True)
class RosterEntry:
    jid: str
    name: str
    groups: frozenset[str]


@dataclass(frozen=True)
class SharedMembership:
    """One business both people belong to, with their roles there."""

    viewer_role: Role
    contact_role: Role


def roster_entry(contact_jid: str, contact_name: str, shared: Iterable[SharedMembership]) -> RosterEntry | None:
    """The entry for a contact over all the businesses two people share (groups are merged)."""
    groups = {g for s in shared if (g := contact_group(s.viewer_role, s.contact_role)) is not None}
    if not groups:
        return None
    return RosterEntry(contact_jid, contact_name, frozenset(groups))


def component_entry(component_jid: str) -> RosterEntry:
    """Everyone of a business has the component as a contact, so its messages pass mod_block_strangers."""
    return RosterEntry(component_jid, COMPONENT_CONTACT_NAME, frozenset({COMPONENT_CONTACT_GROUP}))


def may_find(searcher: Role, target: Role) -> bool:
    """Start New → search: an owner finds everyone of the business, staff and customers find the owners."""
    return searcher == "owner" or target == "owner"
