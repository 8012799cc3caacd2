"""When a hibernated ejabberd session really went away, from the admin API's get_last."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dotimely_chat.servers.ejabberd_presence import ContactPresence


class FakeApi:
    def __init__(self, status: int, body: Any) -> None:
        self.reply = (status, body)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, command: str, **arguments: Any) -> tuple[int, Any]:
        self.calls.append((command, arguments))
        return self.reply


def _stamp(seconds_ago: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _went_away(status: int, body: Any) -> tuple[dt.datetime | None, FakeApi]:
    api = FakeApi(status, body)
    source = ContactPresence(None, api, hibernation_seconds=45)  # type: ignore[arg-type]
    return await source.went_away_at("carl@dotimely.test"), api


async def test_a_session_ended_after_hibernation_went_away_the_hibernation_earlier() -> None:
    ended = _stamp(1)
    at, api = await _went_away(200, {"timestamp": ended, "status": "Stream closed by local host: Timed out "
                                     "waiting for stream resumption (connection-timeout)"})
    assert api.calls == [("get_last", {"user": "carl", "host": "dotimely.test"})]
    assert at == dt.datetime.fromisoformat(ended.replace("Z", "+00:00")) - dt.timedelta(seconds=45)


@pytest.mark.parametrize("status, body", [
    (200, {"timestamp": _stamp(1), "status": "Stream reset by peer"}),  # a plain end: now is right
    (200, {"timestamp": _stamp(600), "status": "Timed out waiting for stream resumption"}),  # an older end
    (200, {"timestamp": "not a time", "status": "Timed out waiting for stream resumption"}),
    (200, {"status": "ONLINE", "timestamp": _stamp(0)}),
    (404, {"message": "no such user"}),
    (200, "Registered but didn't login"),
])
async def test_anything_else_keeps_when_we_heard_it(status: int, body: Any) -> None:
    assert (await _went_away(status, body))[0] is None
