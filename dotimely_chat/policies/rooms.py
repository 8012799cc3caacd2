"""Appointment rooms: who starts a chat decides who is in it; owners are always in, as room admins.

The component itself is the only room owner (a MUC service admin): XEP-0045 lets any room owner destroy
the room, change its configuration and remove other owners, so business owners are admins, never owners.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

from .roles import Role

Audience = Literal["everyone", "owner"]
AUDIENCES: Final[tuple[Audience, ...]] = get_args(Audience)
Affiliation = Literal["owner", "admin", "member", "outcast", "none"]


@dataclass(frozen=True)
class Parties:
    """The people of one appointment, as bare JIDs."""

    customer: str
    staff: str


@dataclass(frozen=True)
class AudienceDecision:
    audience: Audience | None
    reason: str

    @property
    def allowed(self) -> bool:
        return self.audience is not None


def choose_audience(initiator_role: Role, initiator: str, parties: Parties,
                    requested: Audience | None) -> AudienceDecision:
    """Who is in the room, by who starts it (PRODUCT.md §2.3)."""
    if initiator_role == "customer":
        if initiator != parties.customer:
            return AudienceDecision(None, "a customer starts chats only about their own appointments")
        if requested not in (None, "everyone"):
            return AudienceDecision(None, "a customer's chat always includes the staff member and the owner")
        return AudienceDecision("everyone", "customer: customer, staff and owners")
    if initiator_role == "staff":
        if initiator != parties.staff:
            return AudienceDecision(None, "a staff member starts chats only about appointments assigned to them")
        if requested is None:
            return AudienceDecision(None, "a staff member chooses the audience: 'everyone' (with the customer) "
                                          "or 'owner' (only the owners)")
        return AudienceDecision(requested, f"staff chose '{requested}'")
    if requested not in (None, "everyone"):
        return AudienceDecision(None, "an owner's chat about an appointment includes everyone of it")
    return AudienceDecision("everyone", "owner: everyone of the appointment")


def room_affiliations(audience: Audience, parties: Parties, owners: Iterable[str],
                      members_of_business: Mapping[str, Role]) -> dict[str, Affiliation]:
    """The affiliations the room must have. Owners are admins; the rest members. People who no longer
    belong to the business (with the role the appointment gives them) are left out."""
    wanted: dict[str, Affiliation] = {}
    if members_of_business.get(parties.staff) == "staff":
        wanted[parties.staff] = "member"
    if audience == "everyone" and members_of_business.get(parties.customer) == "customer":
        wanted[parties.customer] = "member"
    for owner in owners:
        wanted[owner] = "admin"
    return wanted


def affiliation_fixes(wanted: Mapping[str, Affiliation], actual: Mapping[str, str],
                      untouchable: Iterable[str]) -> list[tuple[str, Affiliation]]:
    """The changes that bring `actual` back to `wanted`. Entries of `untouchable` (the component) stay."""
    keep = set(untouchable)
    fixes: list[tuple[str, Affiliation]] = [(jid, aff) for jid, aff in wanted.items() if actual.get(jid) != aff]
    fixes += [(jid, "none") for jid, aff in actual.items()
              if jid not in wanted and jid not in keep and aff != "none"]
    return fixes


def room_name(service: str, customer_name: str, starts_at: dt.datetime, audience: Audience) -> str:
    """A name a person recognises: 'Haircut · Carl Customer · Tue 26 Nov 10:00 UTC' (+ ' · owners only')."""
    when = starts_at.astimezone(dt.UTC).strftime("%a %d %b %H:%M UTC")
    name = f"{service} · {customer_name} · {when}"
    return name + " · owners only" if audience == "owner" else name


def parse_audience(value: object) -> Audience | None:
    return value if isinstance(value, str) and value in AUDIENCES else None
