"""Back-fill: what was said in the rooms while the component was away, read from the rooms' archives.

After every (re)connection, once the observer is back in its rooms (the `rooms` resynchronisation step), each
room's MUC archive is read after the last message we recorded there, and what it holds is handed to the
recorder before the live events held since the hold (`StatusRecorder.hold`): messages keep their archive time
and order, markers archived meanwhile (Prosody 0.12 archives XEP-0333 markers, see `component.muc_archive`)
cover what they name. Rooms are read most recently active first, a few at a time; a room whose archive
cannot be read is released anyway (its live events are recorded as they came), with a warning.

Times: Prosody 0.12 stamps its archive in whole seconds (`os.time()` in mod_muc_mam, util.datetime prints no
fraction, and its SQL archive keeps `when` as an integer), while a message recorded live carries the time it
reached us, to the microsecond. A message said 0.9 s into a second after one recorded live at 0.7 s would come
back 0.7 s *earlier* than its predecessor. The archive's order is the truth: a back-filled time is never
earlier than the time of what precedes it in the room (the archive's stamp, raised to it when needed).

Late live messages: a link that stalls and recovers before the keepalive gives up delivers what was said
meanwhile late, in a burst. When a ping comes back late (`ChatComponent.on_late_answer`), `correct_late_times`
reads the archive of each room heard from since the last prompt answer and gives the messages that were
recorded `LATE_BY` or more after their archive time that time instead (a stall between two pings that ends
before the next one goes unseen: its lateness is bounded by the ping interval).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass

from ..metrics import Metrics
from ..storage import Database
from ..storage.status_store import StatusStore
from .ports import ArchiveError, RoomArchive
from .status import StatusRecorder

log = logging.getLogger(__name__)

CONCURRENCY = 8
# A live message recorded this much after the archive's (whole-second) time for it reached us late.
LATE_BY = dt.timedelta(seconds=2)


@dataclass
class BackfillReport:
    rooms: int = 0
    messages: int = 0
    failed: int = 0
    seconds: float = 0.0


class ArchiveBackfill:
    def __init__(self, database: Database, recorder: StatusRecorder, archive: RoomArchive,
                 concurrency: int = CONCURRENCY, metrics: Metrics | None = None) -> None:
        self.database, self.recorder, self.archive = database, recorder, archive
        self.concurrency = concurrency
        self.metrics = metrics or recorder.metrics
        self.last_report: BackfillReport | None = None

    async def run(self) -> BackfillReport:
        generation = self.recorder.holding_generation
        started = time.monotonic()
        report = BackfillReport()
        try:
            await self.recorder.flush()  # what is queued counts as recorded: read the archives after it
            async with self.database.session() as session:
                rooms = await StatusStore(session).last_recorded()
            report.rooms = len(rooms)
            semaphore = asyncio.Semaphore(self.concurrency)

            async def one(room_jid: str, after: str | None, since: dt.datetime | None) -> None:
                async with semaphore:
                    if self.recorder.holding_generation != generation:
                        return  # the link went away again: the next connection reads this room
                    try:
                        report.messages += await self._room(room_jid, after, since, generation)
                    except Exception as exc:  # noqa: BLE001 - one room's archive must not stop the others
                        report.failed += 1
                        log.warning("Room %s: its archive could not be read (%s); recording live events only",
                                    room_jid, exc)
                    if self.recorder.holding_generation == generation:
                        self.recorder.release(room_jid)

            await asyncio.gather(*(one(*room) for room in rooms))
        except Exception:
            self.metrics.backfill_finished(report.messages, report.failed, ok=False)
            raise
        finally:
            # Whatever happened (the database away, say), live events must not stay held: only a newer hold
            # (the link lost again) keeps them, for the next back-fill.
            if self.recorder.holding_generation == generation:
                self.recorder.release_all()
        report.seconds = time.monotonic() - started
        self.last_report = report
        self.metrics.backfill_finished(report.messages, report.failed, ok=True)
        log.info("Back-fill: %d rooms read, %d archived messages or markers handed to the recorder, %d failed "
                 "(%.1f s)", report.rooms, report.messages, report.failed, report.seconds)
        return report

    async def correct_late_times(self, since: dt.datetime, rooms: list[str]) -> int:
        """After a late ping answer: the archive's times for the live messages of `rooms` that reached us
        late after `since`. Returns how many messages were corrected."""
        await self.recorder.flush()
        semaphore = asyncio.Semaphore(self.concurrency)
        corrected = 0

        async def one(room_jid: str) -> None:
            nonlocal corrected
            async with semaphore:
                try:
                    archived = [(m.stanza_id, m.sent_at) async for m in
                                self.archive.messages(room_jid, start=since - dt.timedelta(seconds=1))
                                if m.body is not None]
                    async with self.database.session() as session:
                        fixed = await StatusStore(session).correct_late_times(room_jid, archived, LATE_BY)
                        await session.commit()
                except Exception as exc:  # noqa: BLE001 - one room must not stop the others
                    log.warning("Room %s: the times of late messages could not be checked (%s)", room_jid, exc)
                    return
                if fixed:
                    log.info("Room %s: %d messages reached us late; they have the archive's time now", room_jid,
                             fixed)
                corrected += fixed

        await asyncio.gather(*(one(room) for room in rooms))
        return corrected

    async def _room(self, room_jid: str, after: str | None, since: dt.datetime | None, generation: int) -> int:
        try:
            return await self._read(room_jid, after, None, generation, floor=since)
        except Exception as exc:
            if after is None or not isinstance(exc, ArchiveError) or exc.condition != "item-not-found":
                raise
        # Our last message left the archive (retention): read from its time; what we have is skipped.
        log.info("Room %s: %s is no longer in the archive; reading from %s", room_jid, after, since)
        return await self._read(room_jid, None, since, generation, floor=since)

    async def _read(self, room_jid: str, after: str | None, since: dt.datetime | None, generation: int,
                    floor: dt.datetime | None) -> int:
        """Hand the archive to the recorder; `floor` is the time of the last message recorded in the room."""
        count = 0
        async for message in self.archive.messages(room_jid, after_id=after, start=since):
            if self.recorder.holding_generation != generation:
                break
            if floor is not None and message.sent_at < floor:  # whole seconds (see the module's docstring)
                message = dataclasses.replace(message, sent_at=floor)
            floor = message.sent_at
            self.recorder.archived(room_jid, message)
            count += 1
        return count
