"""A person's presence from their clients' presences (policies.presence), from tables, without a server."""

from __future__ import annotations

import datetime as dt

import pytest

from dotimely_chat.policies.presence import (
    OFFLINE,
    ClientPresence,
    PersonPresence,
    combine,
    idle_since,
    last_seen,
    show_value,
)

T0 = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.mark.parametrize(("raw", "kept"), [
    (None, None), ("", None), ("chat", "chat"), ("away", "away"), ("xa", "xa"), ("dnd", "dnd"),
    (" away\n", "away"), ("AWAY", None), ("busy", None), ("online", None),
])
def test_show_values_are_the_four_of_rfc_6121_anything_else_is_plainly_available(raw: str | None,
                                                                                 kept: str | None) -> None:
    assert show_value(raw) == kept


def test_no_client_is_offline() -> None:
    assert combine({}) == OFFLINE == PersonPresence(False, None, None, None)


@pytest.mark.parametrize("show", [None, "chat", "away", "xa", "dnd"])
def test_any_available_client_is_online_with_its_show_status_and_idle_time(show: str | None) -> None:
    assert combine({"phone": ClientPresence(show, "At the salon", at(-12), 1)}) == PersonPresence(
        True, show, "At the salon", at(-12))


# (first client, second client) -> the client whose presence is the person's
CLIENTS = [
    ((None, None), ("away", None), 0),          # plainly available beats away
    (("away", None), (None, None), 1),          # the same, heard in the other order
    (("xa", None), ("away", None), 1),          # away beats xa
    (("dnd", None), ("away", None), 0),         # dnd (busy at the device) beats away
    (("chat", None), ("dnd", None), 0),
    (("away", -30), ("away", None), 1),         # equal shows: the one not idle
    (("away", -30), ("away", -5), 1),           # both idle: the one active last
    (("xa", None), ("xa", -5), 0),
]


@pytest.mark.parametrize(("first", "second", "wins"), CLIENTS)
def test_with_several_clients_the_most_available_one_is_the_persons_presence(
        first: tuple[str | None, int | None], second: tuple[str | None, int | None], wins: int) -> None:
    clients = {name: ClientPresence(show, f"status of {name}", at(idle) if idle is not None else None, heard)
               for heard, (name, (show, idle)) in enumerate([("desktop", first), ("phone", second)], start=1)}
    chosen = clients[("desktop", "phone")[wins]]
    assert combine(clients) == PersonPresence(True, chosen.show, chosen.status, chosen.idle_since)


def test_equal_clients_take_the_one_heard_from_last() -> None:
    clients = {"a": ClientPresence("away", "first", None, 1), "b": ClientPresence("away", "second", None, 2)}
    assert combine(clients).status == "second"


def test_an_idle_time_in_the_future_is_now() -> None:
    assert idle_since(at(5), T0) == T0
    assert idle_since(at(-5), T0) == at(-5)
    assert idle_since(None, T0) is None


@pytest.mark.parametrize(("stamp", "received", "seen"), [
    (None, at(0), at(0)),           # no stamp: when we heard the unavailable
    (at(-1), at(0), at(-1)),        # the server's stamp: when the connection was lost
    (at(-600), at(0), at(-600)),    # a phone shown gone again after the component reconnected
    (at(2), at(0), at(0)),          # never in the future
])
def test_last_seen_is_the_servers_stamp_never_in_the_future(
        stamp: dt.datetime | None, received: dt.datetime, seen: dt.datetime) -> None:
    assert last_seen(stamp, received) == seen
