"""Upload housekeeping: expired slots, files past the archive retention (`archive.retention`), partial
files of interrupted uploads and files without a record. A periodic task started and stopped with the
service (app.py), and `run_housekeeping` for a single pass."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

from ...storage import UploadRepository, utcnow
from .service import UploadService

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 600.0
ORPHAN_AGE_SECONDS = 3600.0  # a file younger than this may have its record being committed
BATCH = 500


@dataclass
class HousekeepingReport:
    slots_expired: int = 0
    files_retired: int = 0
    partials_removed: int = 0
    orphans_removed: int = 0


async def run_housekeeping(uploads: UploadService, now: dt.datetime | None = None,
                           orphan_age: float = ORPHAN_AGE_SECONDS) -> HousekeepingReport:
    now = now or utcnow()
    report = HousekeepingReport()
    for file_id, slot in list(uploads.slots.items()):
        if slot.expires_at < now and file_id not in uploads.claims:
            del uploads.slots[file_id]
    async with uploads.database.session() as session:
        report.slots_expired = await UploadRepository(session).delete_stale_slots(now, set(uploads.claims))
        await session.commit()
    if uploads.settings.retention is not None:
        report.files_retired = await _retire(uploads, now - uploads.settings.retention)
    report.partials_removed, report.orphans_removed = await _sweep_disk(uploads, now, orphan_age)
    return report


async def _retire(uploads: UploadService, before: dt.datetime) -> int:
    retired = 0
    while True:
        async with uploads.database.session() as session:
            repository = UploadRepository(session)
            files = await repository.files_created_before(before, BATCH)
            if not files:
                return retired
            for stored in files:
                uploads.forget_file(stored.file_id)
                uploads.layout.final_path(stored.file_id).unlink(missing_ok=True)
                log.info("Retention: deleted file %s… of business %d from %s", stored.file_id[:6],
                         stored.business_id, stored.created_at.date())
            await repository.delete_files([f.file_id for f in files])
            await session.commit()
            retired += len(files)


async def _sweep_disk(uploads: UploadService, now: dt.datetime, orphan_age: float) -> tuple[int, int]:
    layout = uploads.layout
    partials = 0
    for path in layout.partial_dir.iterdir():
        if path not in uploads.active_partials:
            path.unlink(missing_ok=True)
            partials += 1
    old = now.timestamp() - orphan_age
    candidates = {p.name: p for p in layout.files_dir.glob("*/*") if p.stat().st_mtime < old}
    names, orphans = sorted(candidates), 0
    for start in range(0, len(names), BATCH):
        batch = names[start:start + BATCH]
        async with uploads.database.session() as session:
            known = await UploadRepository(session).known_file_ids(batch)
        for name in batch:
            if name not in known:
                uploads.forget_file(name)
                candidates[name].unlink(missing_ok=True)
                orphans += 1
    if partials or orphans:
        log.info("Upload housekeeping removed %d partial and %d orphan files", partials, orphans)
    return partials, orphans


class UploadHousekeeping:
    def __init__(self, uploads: UploadService, interval: float = INTERVAL_SECONDS) -> None:
        self.uploads = uploads
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run at once (partial files of an earlier run go), then every `interval` seconds."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="upload-housekeeping")

    async def stop(self) -> None:
        """Stop the periodic task, and the upload writer with it (app.py stops the upload host first, so
        nothing is waiting on it any more)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.uploads.writer.stop()

    async def _run(self) -> None:
        while True:
            try:
                report = await run_housekeeping(self.uploads)
                log.debug("Upload housekeeping: %s", report)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Upload housekeeping failed; trying again in %.0f s", self.interval)
            await asyncio.sleep(self.interval)
