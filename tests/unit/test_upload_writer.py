"""The upload writer (slot decisions and rows committed in groups) on SQLite and PostgreSQL: the quota
holds at its edge under concurrency, a restart with an empty ledger agrees with storage, failures fail
each waiting request clearly and undo what they reserved."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from dotimely_chat.http_upload.errors import UploadError
from dotimely_chat.http_upload.quota_ledger import QuotaLedger
from dotimely_chat.http_upload.records import SlotRecord
from dotimely_chat.http_upload.writer import UploadWriter
from dotimely_chat.policies.uploads import KINDS, UploadLimits
from dotimely_chat.storage import Database, PersonRepository, UploadRepository, upgrade_database, utcnow
from dotimely_chat.storage.repositories.uploads import UploadBatchRepository

from ..storage.conftest import empty_db, postgres_server  # noqa: F401 - fixtures
from ..storage.tenants import Tenant, add_tenant

QUOTA = 1000
LIMITS = UploadLimits(types={kind: frozenset({"image/jpeg"}) if kind == "picture" else frozenset() for kind in KINDS},
                      max_size={kind: 10_000 for kind in KINDS}, max_file_size=10_000, daily_quota=QUOTA)
OWNER, CUSTOMER = "owner.a@chat.test", "customer.a@chat.test"


def writer_on(db: Database) -> UploadWriter:
    return UploadWriter(db, QuotaLedger(), lambda: LIMITS, lambda: dt.timedelta(minutes=5))


async def ask(writer: UploadWriter, jid: str, size: int, n: int, ctype: str = "image/jpeg") -> SlotRecord:
    return await writer.slot(jid, f"f{n}.jpg", size, ctype, ctype, f"{n:040x}")


async def outcomes(writer: UploadWriter, jid: str, sizes: list[int], first: int = 0) -> list[Any]:
    return await asyncio.gather(*(ask(writer, jid, size, first + n) for n, size in enumerate(sizes)),
                                return_exceptions=True)


@pytest.fixture
async def tenant(empty_db: Database) -> Tenant:  # noqa: F811
    await upgrade_database(empty_db)
    return await add_tenant(empty_db, "a")


async def test_concurrent_requests_at_the_quota_edge_never_both_fit(empty_db: Database, tenant: Tenant  # noqa: F811
                                                                     ) -> None:
    writer = writer_on(empty_db)
    results = await outcomes(writer, OWNER, [300] * 5)
    granted = [r for r in results if isinstance(r, SlotRecord)]
    refused = [r for r in results if isinstance(r, UploadError)]
    assert len(granted) == 3 and [r.reason for r in refused] == ["quota_reached"] * 2
    assert writer.batches < 5, "the requests were committed in groups"
    async with empty_db.session() as session:
        used = await UploadRepository(session).uploader_with_usage(OWNER, utcnow() - dt.timedelta(days=1), utcnow())
    assert used == (tenant.owner_id, tenant.business_id, 900), "the ledger and storage agree"
    # the quota is per person: the customer still has all of it
    assert all(isinstance(r, SlotRecord) for r in await outcomes(writer, CUSTOMER, [500, 500], first=10))
    await writer.stop()


async def test_refusals_are_decided_in_the_batch_in_policy_order(empty_db: Database, tenant: Tenant  # noqa: F811
                                                                 ) -> None:
    writer = writer_on(empty_db)
    results = await asyncio.gather(
        writer.slot("nobody@chat.test", "a.exe", 10, "application/x-msdownload", "application/x-msdownload",
                    "1" * 40),
        writer.slot(OWNER, "a.exe", 10, "application/x-msdownload", "application/x-msdownload", "2" * 40),
        writer.slot(OWNER, "a.jpg", 10_001, "image/jpeg", "image/jpeg", "3" * 40),
        writer.slot(OWNER, "a.jpg", 10, "image/jpeg", "image/jpeg", "4" * 40), return_exceptions=True)
    assert [getattr(r, "reason", "ok") for r in results] == [
        "not_a_member", "type_not_allowed", "file_too_large", "ok"]
    assert results[2].max_size == 10_000
    await writer.stop()


async def test_a_restart_loads_slots_and_files_from_storage(empty_db: Database, tenant: Tenant  # noqa: F811
                                                            ) -> None:
    first = writer_on(empty_db)
    slots = [r for r in await outcomes(first, OWNER, [200, 200, 200]) if isinstance(r, SlotRecord)]
    await asyncio.gather(*(first.file(slot, "0" * 64) for slot in slots[:2]))
    await first.stop()
    # As after a crash: a new process, an empty ledger; the third slot is still open, two files stored.
    second = writer_on(empty_db)
    results = await outcomes(second, OWNER, [401, 400], first=10)
    assert isinstance(results[0], UploadError) and results[0].reason == "quota_reached"
    assert isinstance(results[1], SlotRecord)
    with pytest.raises(UploadError) as caught:
        await second.file(slots[0], "1" * 64)
    assert caught.value.reason == "expired", "a slot holds one file, after a restart too"
    await second.file(slots[2], "2" * 64)
    async with empty_db.session() as session:
        files = await UploadRepository(session).files_of_business(tenant.business_id)
    assert sorted(f.sha256[0] for f in files) == ["0", "0", "2"]
    await second.stop()


async def test_a_failing_batch_fails_each_waiting_request_and_undoes_its_reservations(
    empty_db: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    writer = writer_on(empty_db)
    granted = await ask(writer, OWNER, 100, 99)

    def broken(self: UploadBatchRepository, *args: Any, **kwargs: Any) -> Any:
        raise OSError("disk I/O error")

    monkeypatch.setattr(UploadBatchRepository, "add_slots", broken)
    monkeypatch.setattr(UploadBatchRepository, "add_file", broken)
    results = await asyncio.gather(writer.file(granted, "0" * 64), *(ask(writer, OWNER, 300, n) for n in range(3)),
                                   return_exceptions=True)
    assert [getattr(r, "reason", r) for r in results] == ["unavailable"] * 4
    assert all("try again" in r.message for r in results)
    monkeypatch.undo()
    # Nothing was reserved for good: 100 (the open slot) + 900 fit exactly.
    assert all(isinstance(r, SlotRecord) for r in await outcomes(writer, OWNER, [300] * 3, first=10))
    await writer.file(granted, "0" * 64)
    await writer.stop()


async def test_one_bad_row_fails_only_its_own_request(empty_db: Database, tenant: Tenant,  # noqa: F811
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    writer = writer_on(empty_db)
    slots = [r for r in await outcomes(writer, CUSTOMER, [10, 10, 10]) if isinstance(r, SlotRecord)]
    add_file = UploadBatchRepository.add_file

    def fails_for_the_second(self: UploadBatchRepository, file_id: str, *args: Any) -> bool:
        if file_id == slots[1].file_id:
            raise OSError("bad row")
        return add_file(self, file_id, *args)

    monkeypatch.setattr(UploadBatchRepository, "add_file", fails_for_the_second)
    results = await asyncio.gather(*(writer.file(slot, "0" * 64) for slot in slots), return_exceptions=True)
    assert [isinstance(r, dt.datetime) for r in results] == [True, False, True]
    assert isinstance(results[1], UploadError) and results[1].reason == "unavailable"
    await writer.stop()


async def test_a_slot_of_a_person_deleted_meanwhile_holds_no_file(empty_db: Database, tenant: Tenant  # noqa: F811
                                                                  ) -> None:
    writer = writer_on(empty_db)
    slot = await ask(writer, CUSTOMER, 10, 1)
    async with empty_db.session() as session:
        await session.delete(await PersonRepository(session).get(tenant.customer_id))
        await session.commit()
    with pytest.raises(UploadError) as caught:
        await writer.file(slot, "0" * 64)
    assert caught.value.reason == "expired"
    refused = await outcomes(writer, CUSTOMER, [10])
    assert isinstance(refused[0], UploadError) and refused[0].reason == "not_a_member"
    await writer.stop()
