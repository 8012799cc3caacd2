"""Rules of the web page, from tables and with no server."""

from __future__ import annotations

import datetime as dt

import pytest

from dotimely_chat.policies.web_login import (
    LinkState,
    Peer,
    audiences_offered,
    cookie_secure,
    link_state,
    one_to_one_peers,
    search_hits,
    session_valid,
    start_new_mode,
)

NOW = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(seconds=60)


@pytest.mark.parametrize(("found", "expires_at", "used_at", "expected"), [
    (True, LATER, None, LinkState.VALID),
    (True, LATER, NOW, LinkState.USED),
    (True, NOW, None, LinkState.EXPIRED),
    (True, NOW - dt.timedelta(seconds=1), NOW, LinkState.USED),  # used says more than expired
    (False, None, None, LinkState.UNKNOWN),
])
def test_a_login_link_works_once_before_it_expires(found: bool, expires_at: dt.datetime | None,
                                                   used_at: dt.datetime | None, expected: LinkState) -> None:
    assert link_state(found, expires_at, used_at, NOW) is expected


@pytest.mark.parametrize(("expires_at", "member", "valid"), [
    (LATER, True, True), (LATER, False, False), (NOW, True, False), (None, True, False)])
def test_a_session_lasts_while_the_person_belongs_to_the_business(expires_at: dt.datetime | None, member: bool,
                                                                  valid: bool) -> None:
    assert session_valid(expires_at, NOW, member) is valid


@pytest.mark.parametrize(("url", "secure"), [
    ("https://chat.example.com", True), ("http://localhost:8790", True), ("http://web.dotimely.localhost:80", True),
    ("http://127.0.0.1:8790", False), ("http://chat.example.com", False)])
def test_the_cookie_is_secure_wherever_browsers_accept_it(url: str, secure: bool) -> None:
    assert cookie_secure(url) is secure


PEOPLE = [Peer("o@x", "Olga", "owner"), Peer("o2@x", "Otto", "owner"), Peer("s@x", "Stan", "staff"),
          Peer("c@x", "Cathy", "customer"), Peer("d@x", "Dora", "customer")]


@pytest.mark.parametrize(("viewer", "role", "expected"), [
    ("o@x", "owner", ["c@x", "d@x", "o2@x", "s@x"]),
    ("s@x", "staff", ["o2@x", "o@x"]),
    ("c@x", "customer", ["o2@x", "o@x"]),
])
def test_the_list_and_search_follow_the_one_to_one_rule(viewer: str, role: str, expected: list[str]) -> None:
    assert sorted(p.jid for p in one_to_one_peers(viewer, role, PEOPLE)) == expected  # type: ignore[arg-type]
    assert sorted(p.jid for p in search_hits(viewer, role, PEOPLE)) == expected  # type: ignore[arg-type]


def test_owners_start_with_people_staff_and_customers_with_appointments() -> None:
    assert start_new_mode("owner") == "people"
    assert start_new_mode("staff") == start_new_mode("customer") == "appointments"
    assert audiences_offered("staff") == ("everyone", "owner")
    assert audiences_offered("customer") == ("everyone",)
