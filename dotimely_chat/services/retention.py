"""Retention of the component's own records (`archive.retention`): room messages with their per-member
status, and the audit log, are deleted once older than the retention, like the server's archives
(`archive_expires_after`, `muc_log_expires_after`) and the uploaded files (services/uploads/housekeeping.py).
Used or expired export links go a day after they expire. A deleted business (a tombstone, see
services/directory/) is purged once it was deleted longer ago than the retention and no record of it is
left. A periodic task started and stopped by app.py; on a server that cannot expire its own archives
(ejabberd 23.01) it also asks the server to (`ports.ArchiveRetention`).

Kept on purpose: `member_marks` (one row per member and room, how far they have read: no content, and it
keeps "unread" counts right) and presence (current state, not history).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

from ..policies.exports import retention_cutoff
from ..storage import Database, utcnow
from ..storage.business_deletion import BusinessDeletionStore
from ..storage.compliance_store import RetentionStore
from .ports import ArchiveRetention

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600.0
LINK_GRACE = dt.timedelta(days=1)


@dataclass
class RetentionReport:
    messages: int = 0
    audit_entries: int = 0
    export_links: int = 0
    businesses: int = 0  # deleted businesses purged


async def prune(database: Database, retention_seconds: int | None, now: dt.datetime | None = None
                ) -> RetentionReport:
    """One pass; each batch is its own short transaction (SQLite holds one writer at a time)."""
    now = now or utcnow()
    report = RetentionReport()
    cutoff = retention_cutoff(retention_seconds, now)
    if cutoff is not None:
        while True:
            async with database.session() as session:
                store = RetentionStore(session)
                messages = await store.delete_messages_before(cutoff)
                audit = await store.delete_audit_before(cutoff)
                await session.commit()
            report.messages += messages
            report.audit_entries += audit
            if not messages and not audit:
                break
            await asyncio.sleep(0)  # let the status recorder write between batches
        report.businesses = await _purge_deleted_businesses(database, cutoff)
    async with database.session() as session:
        report.export_links = await RetentionStore(session).delete_export_links_expired_before(now - LINK_GRACE)
        await session.commit()
    if report.messages or report.audit_entries:
        log.info("Retention: deleted %d room messages and %d audit entries older than %s",
                 report.messages, report.audit_entries, cutoff)
    return report


async def _purge_deleted_businesses(database: Database, cutoff: dt.datetime) -> int:
    """A deleted business whose history has all expired goes for good (its rooms, appointments, file rows by
    cascade). Its rooms stay at the server, without members and with their archives expired."""
    async with database.session() as session:
        store = BusinessDeletionStore(session)
        businesses = await store.purgeable(cutoff)
        for business in businesses:
            await store.purge(business.id)
            log.info("Retention: purged business %s (deleted on %s), its records expired",
                     business.external_id, business.deleted_at)
        await session.commit()
    return len(businesses)


class RetentionHousekeeping:
    def __init__(self, database: Database, retention_seconds: int | None,
                 interval: float = INTERVAL_SECONDS, server_archives: ArchiveRetention | None = None) -> None:
        """`server_archives`: set (by the composition) when the XMPP server's archives need expiring by us."""
        self.database, self.retention_seconds, self.interval = database, retention_seconds, interval
        self.server_archives = server_archives
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run at once, then every `interval` seconds."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="retention")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> None:
        """One pass over our records and, when wired, the server's archives; a failure of one does not
        keep the other from running (each is logged, and retried on the next pass)."""
        try:
            await prune(self.database, self.retention_seconds)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Retention pass failed; trying again in %.0f s", self.interval)
        if self.server_archives is None or self.retention_seconds is None:
            return
        try:
            await self.server_archives.delete_older_than(self.retention_seconds)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Expiring the XMPP server's archives failed; trying again in %.0f s", self.interval)

    async def _run(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.interval)
