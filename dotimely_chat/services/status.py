"""The status observer's use cases: a room message, a member's marker or receipt, a room entry, a person's
presence, and what the room archives held while we were away. What happens to each (PRODUCT.md §3):

- a **message** of a member (`message_said`) gets a row, and one status row per other member: delivered at
  once (`online`) to the members one of whose clients is in the room then;
- a **marker or receipt** (`marked`) covers the message it names and every earlier one of the room for that
  member: delivered (`receipt`, `marker`), and read for a `displayed` marker (`policies.status_marks`);
- a member **entering the room** (`occupant`) has everything up to the room's latest message delivered
  (`join`): their client receives what it missed from history or MAM.

The handlers that call these run for every stanza (`component.muc_events`, `component.presence`): each
method only queues an event (`status_batch.EventBatches`). The batch is written by `_write` in **one
transaction** with a fixed number of statements (the messages first, then every marker, receipt and entry
as ranges of the members' copies, then presence), within about 20 ms. After a (re)connection, live room
events are held until the room's archive is read (`status_hold`, `status_backfill`). A person's presence
(`status_presence`) is written in the same batches.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..metrics import Metrics
from ..policies.status_marks import Coverage, plan_coverage
from ..storage import Database
from ..storage.status_store import NewMessage, StatusStore
from .ports import ArchivedMessage, Mark
from .status_batch import Event, EventBatches, RecorderStats, now
from .status_hold import LiveHold
from .status_presence import PresenceRecorder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoomMembers:
    room_id: int
    business_id: int
    people: dict[str, int]  # bare JID -> person id, the room's members (admins and members)


MembersLookup = Callable[[str], Awaitable[RoomMembers | None]]
# A cover of a batch: (room id, person id, reference (None: the room's latest message), at, via, read)
Cover = tuple[int, int, str | None, dt.datetime, str, bool]


class StatusRecorder:
    """Records room traffic (called by `component.muc_events.RoomEvents`) and, through `people`, users'
    presence (`component.presence`)."""

    def __init__(self, database: Database, members_of: MembersLookup, metrics: Metrics | None = None) -> None:
        self.database, self.members_of = database, members_of
        self.stats = RecorderStats()
        self.metrics = metrics or Metrics()
        self.batches = EventBatches(self._write, self.stats, self.metrics)
        self._hold = LiveHold(self.batches.enqueue)
        self.people = PresenceRecorder(database, self.batches)  # users' presence, in the same batches
        self._rooms: dict[str, RoomMembers | None] = {}
        self._occupancy: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._heard: dict[str, dt.datetime] = {}  # room -> when its last live message reached us

    # --------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self.batches.start()

    async def stop(self) -> None:
        await self.batches.stop()

    async def flush(self) -> None:
        """Write what is queued (see `EventBatches.flush`)."""
        await self.batches.flush()

    @property
    def queued(self) -> int:
        """Events waiting for the next commit."""
        return len(self.batches.queue)

    @property
    def held(self) -> int:
        """Live room events held until their room's archive is read."""
        return self._hold.held

    @property
    def holding_generation(self) -> int:
        """Changes with every hold (a back-fill started before it must stop)."""
        return self._hold.generation

    def invalidate(self, room_jid: str) -> None:
        """Forget what we know of a room's members (after membership changes)."""
        self._rooms.pop(room_jid, None)

    # ------------------------------------------------------------------------------ room traffic
    def message_said(self, room_jid: str, sender: str, stanza_id: str | None, origin_id: str | None,
                     message_id: str | None, has_attachment: bool) -> None:
        """A member's message with a body, as the room broadcast it live. Recorded when the room archived it
        (it has the room's stanza-id, which markers name); delivered at once to the members present."""
        at = self._heard[room_jid] = now()
        if stanza_id:
            present = frozenset(jid for jid, count in self._occupancy[room_jid].items() if count > 0)
            self._hold.place(room_jid, "message", (room_jid, sender, stanza_id, origin_id, message_id,
                                                   has_attachment, at, present), stanza_id)

    def marked(self, room_jid: str, sender: str, mark: Mark) -> None:
        """A member's XEP-0333 marker or XEP-0184 receipt, live: it covers the message it names and every
        earlier one of the room for that member (written by `_write_covers`)."""
        at = self._heard[room_jid] = now()
        self._hold.place(room_jid, "marker", (room_jid, sender, mark, at))

    def rooms_heard_since(self, since: dt.datetime) -> list[str]:
        """The rooms whose live messages reached us after `since` (older entries are forgotten)."""
        for room in [room for room, at in self._heard.items() if at < since]:
            del self._heard[room]
        return list(self._heard)

    def occupant(self, room_jid: str, jid: str, present: bool) -> None:
        """One of the member's clients entered (present) or left the room: an entry delivers what the
        client missed."""
        counts = self._occupancy[room_jid]
        counts[jid] = max(0, counts[jid] + (1 if present else -1))
        if present:
            self._hold.place(room_jid, "join", (room_jid, jid, now()))

    def left_all_rooms(self) -> None:
        self._occupancy.clear()

    # ------------------------------------------------------------------- what was said while away
    def hold(self) -> None:
        """From now until each room is released: keep its live events aside (`status_hold`)."""
        self._hold.hold()

    def archived(self, room_jid: str, message: ArchivedMessage) -> None:
        """One message of the room's archive, oldest first. A message also seen live since the hold is
        recorded as seen live (who was present), at this place. Nobody is known to have had an archived
        message when it was sent: a later entry into the room, receipt or marker delivers it."""
        live = self._hold.seen_live(room_jid, message.stanza_id)
        if live is not None:
            self.batches.enqueue(live)
            return
        if message.sender_jid is None:
            return  # an anonymous archive entry: nobody to attribute it to
        if message.body is not None:
            self.batches.push("message", (room_jid, message.sender_jid, message.stanza_id, message.origin_id,
                                          message.message_id, bool(message.attachment_urls), message.sent_at,
                                          frozenset()))
        for mark in message.markers:
            self.batches.push("marker", (room_jid, message.sender_jid, mark, message.sent_at))

    def release(self, room_jid: str) -> None:
        """The room's archive is read: its held live events follow, and new ones go straight through."""
        self._hold.release(room_jid)

    def release_all(self) -> None:
        """Every room's archive was read (or could not be): stop holding."""
        self._hold.release_all()

    # ------------------------------------------------------------------------------ the link
    def link_lost(self) -> None:
        """What we know of presence stops now (`PresenceRecorder.link_lost`); room events are held until the
        rooms' archives are read again."""
        self.people.link_lost()
        self.hold()

    async def link_restored(self, settle_seconds: float = 2.0) -> None:
        """Presence settles after the server re-sent it (`PresenceRecorder.link_restored`)."""
        await self.people.link_restored(settle_seconds)

    # ------------------------------------------------------------------------------------- writing
    async def _write(self, batch: list[Event]) -> None:
        """One transaction for the batch, in a fixed number of statements: the messages first (a marker may
        name one of them), then every marker, receipt and room entry as ranges of the members' copies, then
        presence."""
        async with self.database.session() as session:
            store = StatusStore(session)
            messages: list[NewMessage] = []
            covers: list[Cover] = []
            presences = []
            for _, kind, payload in batch:
                if kind == "message":
                    if (new := await self._new_message(*payload)) is not None:
                        messages.append(new)
                elif kind == "marker":
                    room_jid, sender, mark, at = payload
                    if (member := await self._member(room_jid, sender)) is not None:
                        via = "receipt" if mark.kind == "receipt" else "marker"
                        covers.append((*member, mark.reference, at, via, mark.kind == "displayed"))
                elif kind == "join":
                    room_jid, jid, at = payload
                    if (member := await self._member(room_jid, jid)) is not None:
                        covers.append((*member, None, at, "join", False))
                else:
                    presences.append(payload)
            added = await store.add_messages(messages)
            named = await self._write_covers(store, covers)
            for payload in presences:
                await self.people.write(session, store, *payload)
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
    async def _write_covers(store: StatusStore, covers: list[Cover]) -> int:
        """Markers, receipts and room entries of a batch in five statements: the messages they name (the
        room's stanza-id, else the origin-id or message id), each member's marks, and the ranges that
        `policies.status_marks.plan_coverage` says are newly delivered or read. Returns how many markers and
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

    async def _new_message(self, room_jid: str, sender: str, stanza_id: str, origin_id: str | None,
                           message_id: str | None, has_attachment: bool, at: dt.datetime,
                           present: frozenset[str]) -> NewMessage | None:
        """The message's row and a status row per other member: delivered (`online`) to those `present`."""
        room = await self._room(room_jid)
        if room is None:
            return None
        delivered: dict[int, tuple[dt.datetime | None, str | None]] = {
            person: ((at, "online") if jid in present else (None, None))
            for jid, person in room.people.items() if jid != sender}
        return NewMessage(room.room_id, stanza_id, origin_id, message_id, room.people.get(sender), sender, at,
                          has_attachment, delivered)
