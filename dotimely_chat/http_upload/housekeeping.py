"""The periodic upload housekeeping: expired slots, files past the archive retention, partial and orphan
files. Started and stopped with the service (app.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..services.uploads import UploadService

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 600.0


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
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                report = await self.uploads.housekeeping()
                log.debug("Upload housekeeping: %s", report)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Upload housekeeping failed; trying again in %.0f s", self.interval)
            await asyncio.sleep(self.interval)
