"""Rosters follow the directory: the desired contacts come from `policies.contacts`, are pushed through the
server (XEP-0356), and what was pushed is recorded so that later changes push only differences and remove
only what this service put there.

Two ways to bring a roster in line:
- `apply`: after a directory change, compare desired with what we recorded (no server read); optionally
  limited to some contacts, so adding one customer to a business of 2,000 touches one entry per roster.
- `reconcile`: on start and after every reconnect, compare desired with the roster the server holds and
  repair drift (a contact removed by hand comes back); an unchanged roster costs one read and no write.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from ..policies.contacts import (
    ROLE_IN_EVERY_CONTACT_PAIR,
    RosterEntry,
    SharedMembership,
    component_entry,
    roster_entry,
)
from ..storage import Database, DirectoryQueries, RosterItemRepository
from ..storage.models.directory import Person
from .ports import RosterGateway, ServerRosterItem

log = logging.getLogger(__name__)


@dataclass
class RosterChanges:
    set: int = 0
    removed: int = 0
    failed: int = 0

    def add(self, other: RosterChanges) -> None:
        self.set += other.set
        self.removed += other.removed
        self.failed += other.failed


@dataclass(frozen=True)
class Contact:
    """A person as a contact: enough to scope a roster change."""

    id: int
    jid: str

    @classmethod
    def of(cls, person: Person) -> Contact:
        return cls(person.id, person.jid)


def _groups_json(groups: Iterable[str]) -> str:
    return json.dumps(sorted(groups))


@dataclass(frozen=True)
class ManagedItem:
    """A roster entry as we last pushed it."""

    name: str
    groups: str  # JSON, as stored

    NONE: ClassVar[ManagedItem]

    def records(self, entry: RosterEntry) -> bool:
        return self.name == entry.name and self.groups == _groups_json(entry.groups)


ManagedItem.NONE = ManagedItem("", "")


@dataclass
class RosterService:
    database: Database
    gateway: RosterGateway
    component_jid: str
    concurrency: int = 32
    _locks: defaultdict[int, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))

    # ------------------------------------------------------------------------------------ desired state
    async def _load(self, person: Contact, scope: Collection[Contact] | None
                    ) -> tuple[dict[str, RosterEntry], dict[str, ManagedItem]]:
        """The roster the directory asks for, and what we recorded as pushed (one read transaction)."""
        ids = None if scope is None else [c.id for c in scope]
        jids = None if scope is None else [c.jid for c in scope]
        async with self.database.session() as session:
            queries = DirectoryQueries(session)
            rows = await queries.shared_memberships(person.id, ids, ROLE_IN_EVERY_CONTACT_PAIR)
            member = scope is None and bool(await queries.businesses_count(person.id))
            managed = {jid: ManagedItem(item.name, item.groups) for jid, item in
                       (await RosterItemRepository(session).for_person(person.id, jids)).items()}
        shared: dict[str, list[SharedMembership]] = defaultdict(list)
        names: dict[str, str] = {}
        for contact, viewer_role, contact_role in rows:
            shared[contact.jid].append(SharedMembership(viewer_role, contact_role))
            names[contact.jid] = contact.display_name
        desired = {jid: entry for jid, memberships in shared.items()
                   if (entry := roster_entry(jid, names[jid], memberships)) is not None}
        if member:
            desired[self.component_jid] = component_entry(self.component_jid)
        return desired, managed

    # ------------------------------------------------------------------------------------------- apply
    async def apply(self, person: Contact, scope: Collection[Contact] | None = None) -> RosterChanges:
        """Push what changed since our last push (for `scope` contacts only, or the whole roster)."""
        async with self._locks[person.id]:
            desired, managed = await self._load(person, scope)
            to_set = [e for jid, e in desired.items() if not managed.get(jid, ManagedItem.NONE).records(e)]
            to_remove = [jid for jid in managed if jid not in desired]
            return await self._push(person, to_set, to_remove, stale=[], managed=managed)

    async def reconcile(self, person: Contact, scope: Collection[Contact] | None = None) -> RosterChanges:
        """Compare with the server's copy and repair it (for `scope` contacts only, or all); record it."""
        async with self._locks[person.id]:
            desired, managed = await self._load(person, scope)
            actual = await self.gateway.get_roster(person.jid)
            to_set = [e for jid, e in desired.items() if not _matches(actual.get(jid), e)]
            stale = [jid for jid in managed if jid not in desired]
            to_remove = [jid for jid in stale if jid in actual]
            # Entries already right on the server but not recorded (e.g. after a lost commit) are recorded.
            unrecorded = [e for jid, e in desired.items()
                          if _matches(actual.get(jid), e) and not managed.get(jid, ManagedItem.NONE).records(e)]
            return await self._push(person, to_set, to_remove,
                                    stale=[j for j in stale if j not in actual], managed=managed,
                                    also_record=unrecorded)

    async def reconcile_all(self) -> RosterChanges:
        """Every person of every business (run on start and after each reconnect)."""
        async with self.database.session() as session:
            people = await DirectoryQueries(session).people_with_memberships()
            orphans = await DirectoryQueries(session).people_with_roster_items_only()
        total = RosterChanges()
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(person: Contact, full: bool) -> None:
            async with semaphore:
                try:
                    total.add(await (self.reconcile(person) if full else self.apply(person)))
                except Exception:
                    log.exception("Reconciling the roster of %s failed", person.jid)
                    total.failed += 1

        await asyncio.gather(*(one(Contact.of(p), True) for p in people),
                             *(one(Contact.of(p), False) for p in orphans))
        log.info("Rosters reconciled for %d people: %d entries set, %d removed, %d failures",
                 len(people), total.set, total.removed, total.failed)
        return total

    async def component_contacts(self) -> list[str]:
        """The people whose roster has the component: everyone of a business."""
        async with self.database.session() as session:
            return [p.jid for p in await DirectoryQueries(session).people_with_memberships()]

    # -------------------------------------------------------------------------------------------- push
    async def _push(self, person: Contact, to_set: list[RosterEntry], to_remove: list[str], *,
                    stale: list[str], managed: dict[str, ManagedItem],
                    also_record: list[RosterEntry] = ()) -> RosterChanges:  # type: ignore[assignment]
        """Send the changes (one IQ each, some in flight at once), then record what succeeded."""
        changes = RosterChanges()
        done_set: list[RosterEntry] = list(also_record)
        done_remove: list[str] = list(stale)
        semaphore = asyncio.Semaphore(self.concurrency)

        async def set_one(entry: RosterEntry) -> None:
            async with semaphore:
                try:
                    await self.gateway.set_item(person.jid, entry)
                    done_set.append(entry)
                    changes.set += 1
                except Exception as exc:  # noqa: BLE001 - reported, repaired at the next reconcile
                    changes.failed += 1
                    log.warning("Could not set %s in the roster of %s: %s", entry.jid, person.jid, exc)

        async def remove_one(jid: str) -> None:
            async with semaphore:
                try:
                    await self.gateway.remove_item(person.jid, jid)
                    done_remove.append(jid)
                    changes.removed += 1
                except Exception as exc:  # noqa: BLE001
                    changes.failed += 1
                    log.warning("Could not remove %s from the roster of %s: %s", jid, person.jid, exc)

        await asyncio.gather(*(set_one(e) for e in to_set), *(remove_one(j) for j in to_remove))
        if done_set or done_remove:
            async with self.database.session() as session:
                repo = RosterItemRepository(session)
                await repo.insert(person.id, [(e.jid, e.name, _groups_json(e.groups))
                                              for e in done_set if e.jid not in managed])
                for entry in done_set:
                    if entry.jid in managed:
                        await repo.update(person.id, entry.jid, entry.name, _groups_json(entry.groups))
                await repo.delete(person.id, done_remove)
                await session.commit()
        if changes.set or changes.removed:
            log.info("Roster of %s: %d set, %d removed", person.jid, changes.set, changes.removed)
        return changes


def _matches(actual: ServerRosterItem | None, entry: RosterEntry) -> bool:
    return (actual is not None and actual.subscription == "both" and actual.name == entry.name
            and actual.groups == entry.groups)
