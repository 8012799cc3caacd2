"""People's display names where XMPP clients look for them (their PEP nickname and vCard), kept in step
with the directory: published when a person is created or renamed, retracted when they belong to no
business any more, and compared with the directory after every (re)connection (one read per person,
a write only when it differs)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from ..storage import Database, DirectoryQueries, MembershipRepository, PersonRepository

log = logging.getLogger(__name__)
CONCURRENCY = 32


class ProfileGateway(Protocol):
    """The server side (component.pep_profile.PepProfile)."""

    async def publish_name(self, user_jid: str, name: str) -> None: ...
    async def read_nick(self, user_jid: str) -> str | None: ...
    async def retract_name(self, user_jid: str) -> None: ...


class NameService:
    def __init__(self, database: Database, gateway: ProfileGateway) -> None:
        self.database = database
        self.gateway = gateway

    async def person_named(self, jid: str, name: str) -> bool:
        """A person was created or renamed. Never raises: the next reconciliation repairs a failure."""
        try:
            await self.gateway.publish_name(jid, name)
        except Exception as exc:  # noqa: BLE001
            log.warning("Publishing the name of %s failed: %s", jid, exc)
            return False
        return True

    async def person_left(self, jid: str) -> None:
        """A membership was removed: when the person belongs to no business any more, their name goes."""
        async with self.database.session() as session:
            person = await PersonRepository(session).get_by_jid(jid)
            if person is not None and await MembershipRepository(session).businesses_of_person(person.id):
                return
        try:
            await self.gateway.retract_name(jid)
        except Exception as exc:  # noqa: BLE001
            log.warning("Retracting the name of %s failed: %s", jid, exc)

    async def reconcile_all(self) -> int:
        """Publish every name that differs from the directory; returns how many were published."""
        async with self.database.session() as session:
            people = [(p.jid, p.display_name) for p in await DirectoryQueries(session).people_with_memberships()]
        semaphore = asyncio.Semaphore(CONCURRENCY)
        published = 0

        async def one(jid: str, name: str) -> None:
            nonlocal published
            async with semaphore:
                try:
                    if await self.gateway.read_nick(jid) == name:
                        return
                except Exception as exc:  # noqa: BLE001
                    log.warning("Reading the name of %s failed: %s", jid, exc)
                    return
                if await self.person_named(jid, name):  # (not `+= await`: it reads before awaiting)
                    published += 1

        await asyncio.gather(*(one(jid, name) for jid, name in people))
        log.info("Names reconciled for %d people: %d published", len(people), published)
        return published
