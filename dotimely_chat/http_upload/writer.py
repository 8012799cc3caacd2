"""The upload writer: slot decisions and the rows of slots and files, committed in groups.

One task takes every slot request and stored file waiting and handles them in one transaction: one query
for the askers' membership, one for the usage of people not yet in the quota ledger, the policy decided
for each request in turn against the ledger (so two requests never both fit the quota), one executemany of
the allowed slots, one INSERT … SELECT per file (its slot must still be unused), one commit. Each caller
is answered only after that commit (PRODUCT.md §8: an IQ result or a 2xx only after the write is durable);
requests arriving meanwhile form the next batch. The whole transaction is one synchronous call on the
writer's own connection (batch_connection: one thread hop on SQLite instead of several per statement).

If a batch fails, its reservations are undone and each item is tried again alone, so one bad row fails
only its own request; an item that fails alone is answered `unavailable` (try again: a 503 to a PUT, whose
file is then removed; a wait/service-unavailable error to a slot request), its cause logged with who asked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection

from ..policies.uploads import UploadLimits, may_upload
from ..storage import Database, utcnow
from ..storage.repositories.uploads import UploadBatchRepository
from .batch_connection import BatchConnection
from .errors import UploadError
from .quota_ledger import QuotaLedger, UsageRow
from .records import SlotRecord

log = logging.getLogger(__name__)


@dataclass
class SlotAsk:
    """A slot request: `content_type` as asked (the policy judges it), `ctype` normalised or ''."""

    jid: str
    filename: str
    size: int
    content_type: str | None
    ctype: str
    file_id: str
    future: asyncio.Future[SlotRecord] = field(repr=False)


@dataclass
class FileAsk:
    """A file stored on disk whose row is to be written; answered with the row's time."""

    slot: SlotRecord
    sha256: str
    future: asyncio.Future[dt.datetime] = field(repr=False)


Item = SlotAsk | FileAsk
UNAVAILABLE = "the upload service could not record this; try again"
PRUNE_EVERY = dt.timedelta(minutes=10)  # people whose usage is nothing are forgotten (loaded again on use)


class UploadWriter:
    def __init__(self, database: Database, ledger: QuotaLedger, limits: Callable[[], UploadLimits],
                 slot_lifetime: Callable[[], dt.timedelta]) -> None:
        self.database = database
        self.ledger = ledger
        self._limits, self._lifetime = limits, slot_lifetime  # read per batch: tests change the settings
        self._pending: list[Item] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connection = BatchConnection(database)
        self._pruned = utcnow()
        self.batches = 0  # for tests and logs: how many transactions were committed

    # ------------------------------------------------------------------------------------ callers
    async def slot(self, jid: str, filename: str, size: int, content_type: str | None, ctype: str,
                   file_id: str) -> SlotRecord:
        """The committed slot, or UploadError (the policy's refusal, or `unavailable`)."""
        future: asyncio.Future[SlotRecord] = asyncio.get_running_loop().create_future()
        self._submit(SlotAsk(jid, filename, size, content_type, ctype, file_id, future))
        return await future

    def file(self, slot: SlotRecord, sha256: str) -> asyncio.Future[dt.datetime]:
        """A future of the committed file row's time; UploadError `expired` when the slot was withdrawn
        (or used), `unavailable` when it could not be written. The write goes on if the caller leaves."""
        future: asyncio.Future[dt.datetime] = asyncio.get_running_loop().create_future()
        self._submit(FileAsk(slot, sha256, future))
        return future

    def _submit(self, item: Item) -> None:
        self._pending.append(item)
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="upload-writer")

    async def stop(self) -> None:
        """Stop the task; anything still waiting is answered `unavailable`."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        pending, self._pending = self._pending, []
        for item in pending:
            _fail(item, UploadError("unavailable", UNAVAILABLE))
        await self._connection.close()

    # ------------------------------------------------------------------------------------- the task
    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            batch = [item for item in batch if not (isinstance(item, SlotAsk) and item.future.done())]
            if batch:  # (a slot request whose asker left is not written)
                await self._write(batch)

    async def _write(self, batch: list[Item]) -> None:
        try:
            results = await self._transaction(batch)
        except asyncio.CancelledError:
            for item in batch:
                _fail(item, UploadError("unavailable", UNAVAILABLE))
            raise
        except Exception as exc:
            if len(batch) > 1:
                log.warning("Upload batch of %d failed (%s); writing each alone", len(batch), type(exc).__name__)
                for item in batch:
                    await self._write([item])
                return
            log.error("Upload %s could not be recorded", _describe(batch[0]), exc_info=exc)
            _fail(batch[0], UploadError("unavailable", UNAVAILABLE))
            return
        self.batches += 1
        for item, result in zip(batch, results, strict=True):
            if item.future.done():
                continue
            if isinstance(result, UploadError):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    async def _transaction(self, batch: list[Item]) -> list[Any]:
        """Each item's result (a SlotRecord, the file's time, or the UploadError refusing it), committed."""
        work = partial(self._write_batch, batch, utcnow(), self._limits(), self._lifetime())
        return await self._connection.run(work)

    # ---------------------------------- the batch: in the writer's thread (SQLite) or through run_sync
    def _write_batch(self, batch: list[Item], now: dt.datetime, limits: UploadLimits, lifetime: dt.timedelta,
                     connection: Connection) -> list[Any]:
        """One transaction. The ledger is touched only from here (batches run one at a time), the callers'
        futures never."""
        asks = [item for item in batch if isinstance(item, SlotAsk)]
        files = [item for item in batch if isinstance(item, FileAsk)]
        results: dict[int, Any] = {}
        reserved: list[tuple[int, str]] = []
        uploads = UploadBatchRepository(connection)
        try:
            with connection.begin():
                if asks:
                    rows = self._decide(uploads, asks, now, limits, now + lifetime, results, reserved)
                    if rows:
                        uploads.add_slots(rows)
                for item in files:
                    ok = uploads.add_file(item.slot.file_id, item.slot.jid, item.sha256, now)
                    results[id(item)] = now if ok else UploadError("expired", "the upload slot was withdrawn")
        except BaseException:
            for person_id, file_id in reserved:
                self.ledger.release(person_id, file_id)
            raise
        for item in files:
            slot = item.slot
            if isinstance(results[id(item)], UploadError):
                self.ledger.release(slot.person_id, slot.file_id)
            else:
                self.ledger.stored(slot.person_id, slot.file_id, slot.size, now)
        if now - self._pruned > PRUNE_EVERY:
            self._pruned = now
            self.ledger.prune(now)
        return [results[id(item)] for item in batch]

    def _decide(self, uploads: UploadBatchRepository, asks: list[SlotAsk], now: dt.datetime,
                limits: UploadLimits, expires_at: dt.datetime, results: dict[int, Any],
                reserved: list[tuple[int, str]]) -> list[dict[str, Any]]:
        """The policy for each request in turn, against the ledger; the rows of the allowed slots."""
        members = uploads.uploaders({ask.jid for ask in asks})
        unknown = {person_id for person_id, _ in members.values() if not self.ledger.knows(person_id)}
        if unknown:
            usage = uploads.usage_rows(unknown, now - self.ledger.window, now)
            for person_id in unknown:
                self.ledger.load(person_id, (UsageRow(file_id, size, at, is_slot)
                                             for owner, file_id, size, at, is_slot in usage if owner == person_id))
        rows = []
        for ask in asks:
            person_id, business_id = members.get(ask.jid, (0, 0))
            used = self.ledger.used(person_id, now) if person_id else 0
            decision = may_upload(is_member=bool(person_id), content_type=ask.content_type, size=ask.size,
                                  used_today=used, limits=limits)
            if not decision.allowed:
                log.info("Upload slot refused to %s (business %s): %s, %d bytes of %s", ask.jid,
                         business_id or "none", decision.reason, ask.size, ask.content_type)
                results[id(ask)] = UploadError(decision.reason or "bad_request", decision.message,
                                               decision.max_size)
                continue
            self.ledger.reserve(person_id, ask.file_id, ask.size, expires_at)
            reserved.append((person_id, ask.file_id))
            rows.append({"business_id": business_id, "person_id": person_id, "file_id": ask.file_id,
                         "filename": ask.filename, "size": ask.size, "content_type": ask.ctype,
                         "expires_at": expires_at, "created_at": now})
            results[id(ask)] = SlotRecord(ask.file_id, business_id, person_id, ask.jid, ask.filename, ask.size,
                                          ask.ctype, expires_at)
        return rows


def _fail(item: Item, error: UploadError) -> None:
    if not item.future.done():
        item.future.set_exception(error)


def _describe(item: Item) -> str:
    if isinstance(item, SlotAsk):
        return f"slot {item.file_id[:6]}… for {item.jid} ({item.size} bytes of {item.ctype})"
    return f"file {item.slot.file_id[:6]}… of {item.slot.jid} (business {item.slot.business_id})"
