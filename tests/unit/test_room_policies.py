"""Who is in an appointment room, and how a room is put back: pure rules, from tables."""

from __future__ import annotations

import datetime as dt

import pytest

from dotimely_chat.policies.rooms import (
    Parties,
    affiliation_fixes,
    choose_audience,
    parse_audience,
    room_affiliations,
    room_name,
)

PARTIES = Parties(customer="carl@x", staff="sam@x")
CASES = [
    # role, initiator, requested, expected audience (None = refused)
    ("customer", "carl@x", None, "everyone"),
    ("customer", "carl@x", "everyone", "everyone"),
    ("customer", "carl@x", "owner", None),
    ("customer", "cora@x", None, None),          # another customer's appointment
    ("staff", "sam@x", "everyone", "everyone"),
    ("staff", "sam@x", "owner", "owner"),
    ("staff", "sam@x", None, None),              # staff must choose
    ("staff", "stella@x", "owner", None),        # not their appointment
    ("owner", "olivia@x", None, "everyone"),
    ("owner", "olivia@x", "everyone", "everyone"),
    ("owner", "olivia@x", "owner", None),
]


@pytest.mark.parametrize(("role", "initiator", "requested", "expected"), CASES)
def test_who_starts_the_chat_decides_who_is_in_it(role: str, initiator: str, requested: str | None,
                                                  expected: str | None) -> None:
    decision = choose_audience(role, initiator, PARTIES, requested)  # type: ignore[arg-type]
    assert decision.audience == expected
    assert decision.reason


ROLES = {"carl@x": "customer", "sam@x": "staff"}


def test_everyone_room_has_customer_staff_and_owners_as_admins() -> None:
    assert room_affiliations("everyone", PARTIES, ["olivia@x", "otto@x"], ROLES) == {
        "carl@x": "member", "sam@x": "member", "olivia@x": "admin", "otto@x": "admin"}


def test_owner_room_never_has_the_customer() -> None:
    assert room_affiliations("owner", PARTIES, ["olivia@x"], ROLES) == {"sam@x": "member", "olivia@x": "admin"}


def test_people_who_left_the_business_or_changed_role_are_left_out() -> None:
    assert room_affiliations("everyone", PARTIES, ["olivia@x"], {"sam@x": "staff"}) == {
        "sam@x": "member", "olivia@x": "admin"}
    assert room_affiliations("everyone", PARTIES, ["olivia@x"], {"carl@x": "staff", "sam@x": "staff"}) == {
        "sam@x": "member", "olivia@x": "admin"}


def test_an_owner_who_is_also_the_staff_member_stays_admin() -> None:
    parties = Parties(customer="carl@x", staff="olivia@x")
    assert room_affiliations("everyone", parties, ["olivia@x"], {"carl@x": "customer", "olivia@x": "owner"}) == {
        "carl@x": "member", "olivia@x": "admin"}


def test_fixes_put_back_bans_removals_and_invitations_but_never_touch_the_component() -> None:
    wanted = {"carl@x": "member", "sam@x": "member", "olivia@x": "admin"}
    actual = {"carl@x": "outcast", "olivia@x": "admin", "eve@x": "member", "rooms@chat.x": "owner",
              "chat.x": "owner"}
    fixes = affiliation_fixes(wanted, actual, {"rooms@chat.x", "chat.x"})
    assert sorted(fixes) == [("carl@x", "member"), ("eve@x", "none"), ("sam@x", "member")]
    assert affiliation_fixes(wanted, dict(wanted), set()) == []


def test_room_names_are_recognisable() -> None:
    starts = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert room_name("Haircut", "Carl Customer", starts, "everyone") == "Haircut · Carl Customer · Thu 26 Nov 09:00 UTC"
    assert room_name("Haircut", "Carl Customer", starts, "owner").endswith(" · owners only")


def test_audiences_parse() -> None:
    assert parse_audience("owner") == "owner" and parse_audience("all") is None and parse_audience(None) is None
