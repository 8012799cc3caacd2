"""Archive retention on ejabberd 23.01 (`services.ports.ArchiveRetention`).

ejabberd 23.01 has no archive expiry option (Prosody has `archive_expires_after` and `muc_log_expires_after`),
so `archive.retention` is applied by calling the admin command `delete_old_mam_messages` (type `all`: users'
one-to-one archives and rooms' archives), from the component's retention housekeeping.

Facts behind the choices (23.01, read in mod_mam / mod_mam_mnesia):
- The command counts in whole days before now: the retention is rounded up to days (ours are whole days anyway),
  so nothing younger than the retention goes.
- On mnesia it turns the whole `archive_msg` table into RAM copies for the pass and back to disc-only copies
  after it, and walks every archive: costly on a big archive, so it runs at most once per `min_interval`
  (default 6 h; a day's granularity needs no more), not on every hourly pass.
- It answers 0 also when nothing was old enough; it does not say how many messages went.
"""

from __future__ import annotations

import asyncio
import logging
import math

from ..services.ports import ArchiveRetention
from .ejabberd_accounts import EjabberdAdminApi

log = logging.getLogger(__name__)

DAY_SECONDS = 86400
MIN_INTERVAL_SECONDS = 6 * 3600.0


class ArchiveExpiryError(RuntimeError):
    """ejabberd refused to delete old archived messages."""


def retention_days(retention_seconds: int) -> int:
    """Whole days, rounded up: what delete_old_mam_messages takes."""
    return max(1, math.ceil(retention_seconds / DAY_SECONDS))


class EjabberdArchiveExpiry(ArchiveRetention):
    def __init__(self, api: EjabberdAdminApi, min_interval: float = MIN_INTERVAL_SECONDS) -> None:
        self.api = api
        self.min_interval = min_interval
        self._last_run: float | None = None

    async def delete_older_than(self, seconds: int) -> None:
        now = asyncio.get_running_loop().time()
        if self._last_run is not None and now - self._last_run < self.min_interval:
            return
        days = retention_days(seconds)
        status, body = await self.api.call("delete_old_mam_messages", type="all", days=days)
        if status != 200 or body != 0:
            raise ArchiveExpiryError(f"ejabberd refused delete_old_mam_messages (older than {days} days): "
                                      f"{status} {str(body)[:300]}")
        self._last_run = now
        log.info("ejabberd's archives: messages older than %d days deleted", days)
