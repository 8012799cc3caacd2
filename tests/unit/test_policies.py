"""Pure business rules, tested from tables without any server."""

from __future__ import annotations

import pytest

from dotimely_chat.policies.contacts import (
    ROLE_IN_EVERY_CONTACT_PAIR,
    SharedMembership,
    contact_group,
    may_chat_one_to_one,
    may_find,
    roster_entry,
)
from dotimely_chat.policies.people import (
    localpart_for,
    may_change_role,
    may_remove_membership,
    split_bare_jid,
    validate_display_name,
)
from dotimely_chat.policies.roles import ROLES, parse_role

ONE_TO_ONE = [
    ("owner", "staff", True), ("owner", "customer", True), ("staff", "owner", True),
    ("customer", "owner", True), ("owner", "owner", True),
    ("staff", "customer", False), ("customer", "staff", False), ("customer", "customer", False),
    ("staff", "staff", False),
]


@pytest.mark.parametrize(("sender", "recipient", "allowed"), ONE_TO_ONE)
def test_only_pairs_with_an_owner_chat_one_to_one(sender: str, recipient: str, allowed: bool) -> None:
    decision = may_chat_one_to_one(sender, recipient)  # type: ignore[arg-type]
    assert decision.allowed is allowed
    assert decision.reason


@pytest.mark.parametrize(("sender", "recipient", "allowed"), ONE_TO_ONE)
def test_roster_contacts_are_exactly_the_one_to_one_pairs(sender: str, recipient: str, allowed: bool) -> None:
    assert (contact_group(sender, recipient) is not None) is allowed  # type: ignore[arg-type]
    if allowed:
        assert ROLE_IN_EVERY_CONTACT_PAIR in (sender, recipient)


def test_groups_name_the_contacts_role() -> None:
    assert contact_group("owner", "staff") == "Staff"
    assert contact_group("owner", "customer") == "Customers"
    assert contact_group("customer", "owner") == "Owners"


def test_an_entry_merges_the_groups_of_every_shared_business() -> None:
    entry = roster_entry("a@x", "Ann", [SharedMembership("owner", "customer"), SharedMembership("owner", "staff")])
    assert entry is not None and entry.groups == frozenset({"Customers", "Staff"})
    assert roster_entry("a@x", "Ann", [SharedMembership("staff", "customer")]) is None
    mixed = roster_entry("a@x", "Ann", [SharedMembership("staff", "customer"), SharedMembership("customer", "owner")])
    assert mixed is not None and mixed.groups == frozenset({"Owners"})


@pytest.mark.parametrize(("searcher", "target", "found"), [
    ("owner", "staff", True), ("owner", "customer", True), ("owner", "owner", True),
    ("staff", "owner", True), ("customer", "owner", True),
    ("staff", "customer", False), ("customer", "staff", False), ("customer", "customer", False),
])
def test_who_finds_whom(searcher: str, target: str, found: bool) -> None:
    assert may_find(searcher, target) is found  # type: ignore[arg-type]


def test_roles_parse() -> None:
    assert [parse_role(r) for r in ROLES] == list(ROLES)
    assert parse_role("Owner") is None and parse_role(None) is None and parse_role(1) is None


@pytest.mark.parametrize(("value", "expected"), [
    ("ann@example.org", ("ann", "example.org")),
    ("Ann@example.org", None), ("ann@Example.org", None), ("ann", None), ("@example.org", None),
    ("ann@example.org/phone", None), (" ann@example.org", None), ("a b@example.org", None),
    ("ann@bad..org", None), ("a@b@example.org", None), (42, None),
])
def test_bare_jids_are_checked(value: object, expected: object) -> None:
    assert split_bare_jid(value) == expected


def test_display_names_are_cleaned_and_bounded() -> None:
    assert validate_display_name("  Ann   Lee ") == "Ann Lee"
    assert validate_display_name("") is None and validate_display_name("x" * 201) is None
    assert validate_display_name("bad\x00name") is None and validate_display_name(None) is None


def test_generated_localparts_are_readable_and_unguessable() -> None:
    first, second = localpart_for("Zoë O'Brien"), localpart_for("Zoë O'Brien")
    assert first.startswith("zoe-o-brien-") and first != second
    assert split_bare_jid(f"{first}@example.org") is not None
    assert localpart_for("???").startswith("person-")


def test_the_last_owner_stays() -> None:
    assert may_remove_membership("owner", 1)[0] is False
    assert may_remove_membership("owner", 2)[0] is True
    assert may_remove_membership("customer", 1)[0] is True
    assert may_change_role("owner", "staff", 1)[0] is False
    assert may_change_role("owner", "staff", 2)[0] is True
    assert may_change_role("staff", "owner", 1)[0] is True
