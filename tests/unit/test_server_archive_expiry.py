"""The retention housekeeping's hook for a server that cannot expire its own archives (ejabberd 23.01), and
the ejabberd side of it, against fakes (the real node: tests/integration/test_ejabberd_pep.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest

from dotimely_chat.servers.ejabberd_accounts import EjabberdAdminApi
from dotimely_chat.servers.ejabberd_retention import ArchiveExpiryError, EjabberdArchiveExpiry, retention_days
from dotimely_chat.services import retention
from dotimely_chat.services.retention import RetentionHousekeeping, RetentionReport
from dotimely_chat.storage import Database


class FakeExpiry:
    def __init__(self, fails: bool = False) -> None:
        self.calls: list[int] = []
        self.fails = fails

    async def delete_older_than(self, seconds: int) -> None:
        self.calls.append(seconds)
        if self.fails:
            raise RuntimeError("admin API refused")


class FakeApi:
    def __init__(self, answer: tuple[int, Any] = (200, 0)) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answer = answer

    async def call(self, command: str, **arguments: Any) -> tuple[int, Any]:
        self.calls.append((command, arguments))
        return self.answer


@pytest.fixture
def pruned(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    passes: list[int | None] = []

    async def prune(_database: Database, retention_seconds: int | None, now: dt.datetime | None = None
                    ) -> RetentionReport:
        passes.append(retention_seconds)
        return RetentionReport()

    monkeypatch.setattr(retention, "prune", prune)
    return passes


async def test_each_pass_expires_the_servers_archives_after_our_records(pruned: list[int | None]) -> None:
    expiry = FakeExpiry()
    await RetentionHousekeeping(cast(Database, None), 86400 * 30, server_archives=expiry).run_once()
    assert pruned == [86400 * 30] and expiry.calls == [86400 * 30]


async def test_no_server_expiry_when_retention_is_never_or_none_is_wired(pruned: list[int | None]) -> None:
    expiry = FakeExpiry()
    await RetentionHousekeeping(cast(Database, None), None, server_archives=expiry).run_once()
    await RetentionHousekeeping(cast(Database, None), 86400).run_once()  # Prosody: nothing wired
    assert expiry.calls == [] and pruned == [None, 86400]


async def test_one_failure_does_not_stop_the_other(monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    async def broken_prune(*_args: Any, **_kwargs: Any) -> RetentionReport:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(retention, "prune", broken_prune)
    expiry = FakeExpiry(fails=True)
    await RetentionHousekeeping(cast(Database, None), 86400, server_archives=expiry).run_once()  # no raise
    assert expiry.calls == [86400]
    assert "Retention pass failed" in caplog.text and "Expiring the XMPP server's archives failed" in caplog.text


def test_retention_in_whole_days_rounded_up() -> None:
    assert retention_days(86400) == 1
    assert retention_days(86400 * 365 * 5) == 1825
    assert retention_days(86400 + 1) == 2
    assert retention_days(60) == 1


async def test_ejabberd_expiry_calls_delete_old_mam_messages_at_most_once_per_interval() -> None:
    api = FakeApi()
    expiry = EjabberdArchiveExpiry(cast(EjabberdAdminApi, api), min_interval=3600)
    await expiry.delete_older_than(86400 * 7)
    await expiry.delete_older_than(86400 * 7)  # an hour has not passed: skipped
    assert api.calls == [("delete_old_mam_messages", {"type": "all", "days": 7})]
    await EjabberdArchiveExpiry(cast(EjabberdAdminApi, api), min_interval=0).delete_older_than(86400)
    assert api.calls[-1] == ("delete_old_mam_messages", {"type": "all", "days": 1})


async def test_ejabberd_refusing_the_expiry_is_named_and_retried() -> None:
    api = FakeApi((400, "unsupported_type"))
    expiry = EjabberdArchiveExpiry(cast(EjabberdAdminApi, api), min_interval=3600)
    with pytest.raises(ArchiveExpiryError, match="delete_old_mam_messages .*400 unsupported_type"):
        await expiry.delete_older_than(86400)
    api.answer = (200, 0)
    await expiry.delete_older_than(86400)  # a failed pass does not count: the next one runs
    assert len(api.calls) == 2
