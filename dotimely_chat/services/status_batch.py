"""The status recorder's write mechanics: events queue up, and a flush task writes what gathered during
`FLUSH_SECONDS` after the oldest queued event in one transaction (`StatusRecorder._write`: a fixed number of
statements, whatever the batch holds). What was seen is on disk within about 20 ms plus one write, and a
burst costs one commit, not one per stanza (bench/status.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..metrics import Metrics

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.02
MAX_BATCH = 2000

Event = tuple[float, str, tuple[Any, ...]]  # (seen at, time.monotonic(); kind; payload)
WriteBatch = Callable[[list[Event]], Awaitable[None]]


def now() -> dt.datetime:
    """The time an event is recorded at (tests replace it)."""
    return dt.datetime.now(dt.UTC)


@dataclass
class RecorderStats:
    events: int = 0
    messages: int = 0
    markers: int = 0
    flushes: int = 0
    lags: list[float] = field(default_factory=list)  # seconds from event to commit, last flushes


class EventBatches:
    """The queue of events and the task that writes it in batches with `write` (one transaction each)."""

    def __init__(self, write: WriteBatch, stats: RecorderStats, metrics: Metrics) -> None:
        self.write, self.stats, self.metrics = write, stats, metrics
        self.queue: list[Event] = []
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()  # one flush at a time: ids follow the order events were seen
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the flush task between two writes (cancelling it in the middle of one left the SQLite write
        transaction open: the last flush below then found the database locked), then write what is left."""
        if self._task is not None:
            async with self._flushing:
                self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()

    def push(self, kind: str, payload: tuple[Any, ...]) -> None:
        self.enqueue((time.monotonic(), kind, payload))

    def enqueue(self, event: Event) -> None:
        """Queue (seen at, kind, payload): a held event keeps the time it was seen, for the lag figures."""
        self.queue.append(event)
        self.stats.events += 1
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self.queue:  # gather a batch: write at most FLUSH_SECONDS after its oldest event
                await asyncio.sleep(max(0.0, self.queue[0][0] + FLUSH_SECONDS - time.monotonic()))
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Writing %d status events failed; they are kept for the next try",
                              len(self.queue))

    async def flush(self) -> None:
        """Write what is queued, and what a flush running meanwhile is writing, before returning. Flushes
        (the flush task, the back-fill, the presence settle) take turns: two batches written at once could
        commit in either order, and a room's messages are ordered by their ids."""
        async with self._flushing:
            while self.queue:
                batch, self.queue = self.queue[:MAX_BATCH], self.queue[MAX_BATCH:]
                try:
                    await self.write(batch)
                except BaseException:
                    self.queue[:0] = batch
                    raise
                done = time.monotonic()
                self.stats.flushes += 1
                self.stats.lags = (self.stats.lags + [done - batch[0][0]])[-1000:]
                self.metrics.observe_lags(done, (seen for seen, _, _ in batch))
