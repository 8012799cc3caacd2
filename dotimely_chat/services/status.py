"""The status observer: records room messages, receipts, markers, occupancy and presence, in batches.

Handlers are synchronous and cheap (they run for every stanza): they append an event to a queue; a
flush task writes what gathered during `FLUSH_SECONDS` after the oldest queued event in one transaction (a
fixed number of statements, whatever the batch holds), so what was seen is on disk within about 20 ms plus
one write, and a burst costs one commit, not one per stanza. How "delivered" is known (PRODUCT.md §3):
the earliest of the broadcast while one of the member's clients was in the room (`online`), the member's
next entry into the room (`join`), a receipt (`receipt`) or a marker (`marker`); read = a `displayed`
marker for that message or a later one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..metrics import Metrics
from ..policies.presence import OFFLINE, ClientPresence, PersonPresence, combine
from ..policies.status_marks import Coverage, plan_coverage
from ..storage import Database, PersonRepository
from ..storage.status_store import NewMessage, StatusStore

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.02
MAX_BATCH = 2000


@dataclass(frozen=True)
class RoomMembers:
    room_id: int
    business_id: int
    people: dict[str, int]  # bare JID -> person id, the room's members (admins and members)


MembersLookup = Callable[[str], Awaitable[RoomMembers | None]]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class RecorderStats:
    events: int = 0
    messages: int = 0
    markers: int = 0
    flushes: int = 0
    lags: list[float] = field(default_factory=list)  # seconds from event to commit, last flushes


class StatusRecorder:
    """Implements component.muc_events.TrafficListener and receives users' presence."""

    def __init__(self, database: Database, members_of: MembersLookup, metrics: Metrics | None = None) -> None:
        self.database, self.members_of = database, members_of
        self.stats = RecorderStats()
        self.metrics = metrics or Metrics()
        self._queue: list[tuple[float, str, tuple[Any, ...]]] = []
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()  # one flush at a time: ids follow the order events were seen
        self._task: asyncio.Task[None] | None = None
        self._rooms: dict[str, RoomMembers | None] = {}
        self._people: dict[str, int | None] = {}
        self._occupancy: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._resources: defaultdict[str, dict[str, ClientPresence]] = defaultdict(dict)  # bare JID -> resource
        self._presences_heard = 0  # presences heard so far: the order among a person's clients
        self._lost_at: dt.datetime | None = None
        # Live events kept aside per room until its archive is read (see `hold`); holding from the start.
        self._holding = True
        self.holding_generation = 1
        self._held: dict[str, list[tuple[float, str, tuple[Any, ...]]]] = {}
        # room -> stanza-id -> held live message not yet placed by the archive
        self._held_messages: dict[str, dict[str, tuple[float, str, tuple[Any, ...]]]] = {}
        self._released: set[str] = set()
        self._heard: dict[str, dt.datetime] = {}  # room -> when its last live message reached us

    # --------------------------------------------------------------------------------- lifecycle
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

    @property
    def queued(self) -> int:
        """Events waiting for the next commit."""
        return len(self._queue)

    @property
    def held(self) -> int:
        """Live room events held until their room's archive is read."""
        return sum(len(events) for events in self._held.values())

    def invalidate(self, room_jid: str) -> None:
        """Forget what we know of a room's members (after membership changes)."""
        self._rooms.pop(room_jid, None)

    # ------------------------------------------------------------------------------ room traffic
    def room_message(self, traffic: Any) -> None:
        at = now()
        self._heard[traffic.room_jid] = at
        if traffic.has_body and traffic.stanza_id:
            present = {jid for jid, count in self._occupancy[traffic.room_jid].items() if count > 0}
            self._push_room(traffic.room_jid, "message", (traffic, at, frozenset(present)))
        for kind, reference in traffic.markers:
            self._push_room(traffic.room_jid, "marker", (traffic.room_jid, traffic.sender, kind, reference, at))

    def rooms_heard_since(self, since: dt.datetime) -> list[str]:
        """The rooms whose live messages reached us after `since` (older entries are forgotten)."""
        for room in [room for room, at in self._heard.items() if at < since]:
            del self._heard[room]
        return list(self._heard)

    def occupant(self, room_jid: str, jid: str, present: bool) -> None:
        counts = self._occupancy[room_jid]
        counts[jid] = max(0, counts[jid] + (1 if present else -1))
        if present:
            self._push_room(room_jid, "join", (room_jid, jid, now()))

    # ------------------------------------------------------------------- what was said while away
    def hold(self) -> None:
        """From now until each room is released: keep its live events aside. After a (re)connection the
        rooms' archives are read first (`services.status_backfill`), so that what was said while we were
        away is recorded before what follows it: a marker covers the messages *before* it, by id."""
        self.holding_generation += 1
        self._holding = True
        self._released.clear()

    def archived(self, room_jid: str, message: Any) -> None:
        """One message of the room's archive (`component.muc_archive.ArchivedMessage`), oldest first. A
        message also seen live since the hold is recorded as seen live (who was present), at this place."""
        live = self._held_messages.get(room_jid, {}).pop(message.stanza_id, None)
        if live is not None:
            self._enqueue(live)
            return
        if message.sender_jid is None:
            return  # an anonymous archive entry: nobody to attribute it to
        if message.body is not None:
            self._push("archived", (room_jid, message.sender_jid, message.stanza_id, message.origin_id,
                                    message.message_id, message.sent_at, bool(message.attachment_urls)))
        for kind, reference in message.markers:
            self._push("marker", (room_jid, message.sender_jid, kind, reference, message.sent_at))

    def release(self, room_jid: str) -> None:
        """The room's archive is read: its held live events follow, and new ones go straight through."""
        waiting = self._held_messages.pop(room_jid, {})
        for event in self._held.pop(room_jid, []):
            if event[1] != "message" or event[2][0].stanza_id in waiting:  # not placed by the archive yet
                self._enqueue(event)
        self._released.add(room_jid)

    def release_all(self) -> None:
        """Every room's archive was read (or could not be): stop holding."""
        self._holding = False
        for room_jid in list(self._held):
            self.release(room_jid)
        self._released.clear()

    def _push_room(self, room_jid: str, kind: str, payload: tuple[Any, ...]) -> None:
        if self._holding and room_jid not in self._released:
            event = (time.monotonic(), kind, payload)
            self._held.setdefault(room_jid, []).append(event)
            if kind == "message":
                self._held_messages.setdefault(room_jid, {})[payload[0].stanza_id] = event
        else:
            self._push(kind, payload)

    def left_all_rooms(self) -> None:
        self._occupancy.clear()

    # ---------------------------------------------------------------------------------- presence
    def presence(self, jid: str, resource: str, client: ClientPresence | None, at: dt.datetime | None = None
                 ) -> None:
        """One client's presence: `client` for an available one (any show), None for unavailable; `at` is when
        it went away (default now; see `component.presence` for the server's stamp)."""
        resources = self._resources[jid]
        if client is not None:
            self._presences_heard += 1
            resources[resource] = ClientPresence(client.show, client.status, client.idle_since,
                                                 self._presences_heard)
            changed = True
        else:  # a client we did not know of going away changes nothing (e.g. a second unavailable)
            changed = resources.pop(resource, None) is not None
        state = combine(resources)
        if not resources:
            self._resources.pop(jid, None)
        if changed:  # the person's presence may now be another client's
            self._push("presence", (jid, state, at if at is not None and not state.online else now()))

    def link_lost(self) -> None:
        """What we know of presence stops now; the server re-sends current presence when we reconnect.
        Room events are held until the rooms' archives are read again."""
        self._lost_at = now()
        self._resources.clear()
        self.hold()

    async def link_restored(self, settle_seconds: float = 2.0) -> None:
        """After the server re-sent every current presence: whoever we had online and did not hear from
        again went away while we were disconnected; their last seen is when we lost the link."""
        await asyncio.sleep(settle_seconds)
        await self.flush()
        lost_at = self._lost_at or now()
        async with self.database.session() as session:
            store = StatusStore(session)
            online = set(await store.online_people())
            present = {self._people.get(jid) for jid in self._resources}
            gone = [person for person in online if person not in present]
            for person in gone:
                await store.set_presence(person, OFFLINE, lost_at)
            await session.commit()
        if gone:
            log.info("%d people went offline while the component was away", len(gone))

    # ------------------------------------------------------------------------------------ flushing
    def _push(self, kind: str, payload: tuple[Any, ...]) -> None:
        self._enqueue((time.monotonic(), kind, payload))

    def _enqueue(self, event: tuple[float, str, tuple[Any, ...]]) -> None:
        """Queue (seen at, kind, payload): a held event keeps the time it was seen, for the lag figures."""
        self._queue.append(event)
        self.stats.events += 1
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if self._queue:  # gather a batch: write at most FLUSH_SECONDS after its oldest event
                await asyncio.sleep(max(0.0, self._queue[0][0] + FLUSH_SECONDS - time.monotonic()))
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Writing %d status events failed; they are kept for the next try", len(self._queue))

    async def flush(self) -> None:
        """Write what is queued, and what a flush running meanwhile is writing, before returning. Flushes
        (the flush task, the back-fill, the presence settle) take turns: two batches written at once could
        commit in either order, and a room's messages are ordered by their ids."""
        async with self._flushing:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    await self._write(batch)
                except BaseException:
                    self._queue[:0] = batch
                    raise
                done = time.monotonic()
                self.stats.flushes += 1
                self.stats.lags = (self.stats.lags + [done - batch[0][0]])[-1000:]
                self.metrics.observe_lags(done, (seen for seen, _, _ in batch))

    async def _write(self, batch: list[tuple[float, str, tuple[Any, ...]]]) -> None:
        """One transaction for the batch, in a fixed number of statements: the messages first (a marker may
        name one of them), then every marker, receipt and room entry as ranges of the members' copies, then
        presence."""
        async with self.database.session() as session:
            store = StatusStore(session)
            messages: list[NewMessage] = []
            covers: list[tuple[int, int, str | None, dt.datetime, str, bool]] = []  # room, person, ref|None=all
            presences = []
            for _, kind, payload in batch:
                if kind == "message":
                    if (new := await self._new_message(*payload)) is not None:
                        messages.append(new)
                elif kind == "archived":
                    if (new := await self._archived_message(*payload)) is not None:
                        messages.append(new)
                elif kind == "marker":
                    room_jid, sender, marker, reference, at = payload
                    if (member := await self._member(room_jid, sender)) is not None:
                        covers.append((*member, reference, at, "receipt" if marker == "receipt" else "marker",
                                       marker == "displayed"))
                elif kind == "join":
                    room_jid, jid, at = payload
                    if (member := await self._member(room_jid, jid)) is not None:
                        covers.append((*member, None, at, "join", False))
                else:
                    presences.append(payload)
            added = await store.add_messages(messages)
            named = await self._write_covers(store, covers)
            for payload in presences:
                await self._write_presence(session, store, *payload)
            await session.commit()
        # Counted once committed: a batch that fails is retried and must not count twice.
        self.stats.messages += added
        self.stats.markers += named

    async def _member(self, room_jid: str, jid: str) -> tuple[int, int] | None:
        """(room id, person id) when `jid` is a member of one of our rooms; None changes nothing."""
        room = await self._room(room_jid)
        person = room.people.get(jid) if room else None
        return (room.room_id, person) if room is not None and person is not None else None

    @staticmethod
    async def _write_covers(store: StatusStore, covers: list[tuple[int, int, str | None, dt.datetime, str, bool]]
                            ) -> int:
        """Markers, receipts and room entries of a batch in five statements; returns how many markers and
        receipts named a known message."""
        if not covers:
            return 0
        targets = await store.resolve_many({(room, ref) for room, _, ref, *_ in covers if ref is not None})
        latest = await store.latest_ids({room for room, _, ref, *_ in covers if ref is None})
        events, named = [], 0
        for room, person, ref, at, via, read in covers:
            upto = latest.get(room) if ref is None else targets.get((room, ref))
            if upto is not None:
                events.append(Coverage(room, person, upto, at, via, read))
                named += ref is not None
        marks = await store.marks_of({(e.room_id, e.person_id) for e in events})
        await store.apply_coverage(plan_coverage(events, marks), marks)
        return named

    async def _room(self, room_jid: str) -> RoomMembers | None:
        if room_jid not in self._rooms:
            self._rooms[room_jid] = await self.members_of(room_jid)
        return self._rooms[room_jid]

    async def _new_message(self, traffic: Any, at: dt.datetime, present: frozenset[str]) -> NewMessage | None:
        room = await self._room(traffic.room_jid)
        if room is None:
            return None
        delivered: dict[int, tuple[dt.datetime | None, str | None]] = {
            person: ((at, "online") if jid in present else (None, None))
            for jid, person in room.people.items() if jid != traffic.sender}
        return NewMessage(room.room_id, traffic.stanza_id, traffic.origin_id, traffic.message_id,
                          room.people.get(traffic.sender), traffic.sender, at, traffic.has_attachment, delivered)

    async def _archived_message(self, room_jid: str, sender: str, stanza_id: str, origin_id: str | None,
                                message_id: str | None, sent_at: dt.datetime, has_attachment: bool
                                ) -> NewMessage | None:
        """A message read from the room's archive: nobody is known to have had it when it was sent (a later
        entry into the room, receipt or marker delivers it)."""
        room = await self._room(room_jid)
        if room is None:
            return None
        delivered: dict[int, tuple[dt.datetime | None, str | None]] = {
            person: (None, None) for jid, person in room.people.items() if jid != sender}
        return NewMessage(room.room_id, stanza_id, origin_id, message_id, room.people.get(sender), sender, sent_at,
                          has_attachment, delivered)

    async def _write_presence(self, session: Any, store: StatusStore, jid: str, state: PersonPresence,
                              at: dt.datetime) -> None:
        if jid not in self._people:
            person = await PersonRepository(session).get_by_jid(jid)
            self._people[jid] = person.id if person else None
        person_id = self._people[jid]
        if person_id is not None:
            await store.set_presence(person_id, state, at)
