"""Users' presence (PRODUCT.md §3), from the privileged presence stream (`component.presence`): per person,
online or not (any available client), show, idle since (XEP-0319), status text, last seen (when the last
client went away). One client's presence changes the person's when it is now another client's that counts
(`policies.presence.combine`). Written with the status batches (`StatusRecorder._write` calls `write`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from typing import Any

from ..policies.presence import OFFLINE, ClientPresence, PersonPresence, combine
from ..storage import Database, PersonRepository
from ..storage.status_store import StatusStore
from .status_batch import EventBatches, now

log = logging.getLogger(__name__)


class PresenceRecorder:
    def __init__(self, database: Database, batches: EventBatches) -> None:
        self.database, self.batches = database, batches
        self._people: dict[str, int | None] = {}
        self._resources: defaultdict[str, dict[str, ClientPresence]] = defaultdict(dict)  # bare JID -> resource
        self._presences_heard = 0  # presences heard so far: the order among a person's clients
        self._lost_at: dt.datetime | None = None

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
            self.batches.push("presence", (jid, state, at if at is not None and not state.online else now()))

    def went_away_earlier(self, jid: str, at: dt.datetime) -> None:
        """The person's last client went away at `at`, before we heard it: the last seen moves back, unless a
        client of theirs is online again."""
        if not self._resources.get(jid):
            self.batches.push("presence", (jid, OFFLINE, at))

    def link_lost(self) -> None:
        """What we know of presence stops now; the server re-sends current presence when we reconnect."""
        self._lost_at = now()
        self._resources.clear()

    async def link_restored(self, settle_seconds: float = 2.0) -> None:
        """After the server re-sent every current presence: whoever we had online and did not hear from
        again went away while we were disconnected; their last seen is when we lost the link."""
        await asyncio.sleep(settle_seconds)
        await self.batches.flush()
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

    async def write(self, session: Any, store: StatusStore, jid: str, state: PersonPresence,
                    at: dt.datetime) -> None:
        """One presence event of a batch, in the batch's transaction (the caller commits)."""
        if jid not in self._people:
            person = await PersonRepository(session).get_by_jid(jid)
            self._people[jid] = person.id if person else None
        person_id = self._people[jid]
        if person_id is not None:
            await store.set_presence(person_id, state, at)
