"""What follows a directory commit: rosters, rooms, names and the web page's password (derived state).

Each is best effort after the directory's own commit: a failure is logged and repaired by the next
reconciliation (a roster push that failed shows as `roster_synced: false`); it never undoes the write.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from ...storage import Database
from ...storage.database import default_lock_waits
from ..rosters import Contact, RosterChanges, RosterService

log = logging.getLogger(__name__)


class MembershipListener(Protocol):
    async def membership_changed(self, business_id: int, person_id: int, involves_owner: bool) -> None: ...


class NameListener(Protocol):
    """Publishes people's names where clients look for them (services.names.NameService)."""

    async def person_named(self, jid: str, name: str) -> bool: ...
    async def person_left(self, jid: str) -> None: ...


class PasswordVault(Protocol):
    async def remember(self, session: Any, person_id: int, password: str) -> None: ...


class DirectoryEffects:
    """The followers of directory changes; app.py plugs in the rooms, the names and the vault."""

    def __init__(self, database: Database, rosters: RosterService | None) -> None:
        self.database, self.rosters = database, rosters
        self.listeners: list[MembershipListener] = []  # the rooms follow memberships
        self.vault: PasswordVault | None = None  # keeps passwords for the web page's login
        self.names: NameListener | None = None  # the display name in the person's PEP (nick, vCard)

    async def membership_changed(self, business_id: int, person_id: int, involves_owner: bool) -> None:
        for listener in self.listeners:
            try:
                await listener.membership_changed(business_id, person_id, involves_owner)
            except Exception:  # noqa: BLE001 - derived state; reconciled at the next resynchronisation
                log.exception("Updating the rooms after a membership change failed")

    async def apply_roster(self, person: Contact, scope: list[Contact] | None) -> bool:
        """Push the person's roster (only the entries of `scope`, or all); True when every push worked."""
        if self.rosters is None:
            return False
        try:
            with default_lock_waits():  # derived writes after the request's commit (see remember_password)
                changes: RosterChanges = await self.rosters.apply(person, scope)
        except Exception:  # noqa: BLE001 - derived state; the next reconciliation repairs it
            log.exception("Roster update for %s failed", person.jid)
            return False
        return changes.failed == 0

    async def remember_password(self, person_id: int, jid: str, password: str) -> None:
        if self.vault is None:
            return
        try:
            # After the request's own commit: waits the default for the lock, not the API's bound (with eight
            # requests in flight on SQLite the bound gave this write up and the web page had no password).
            with default_lock_waits():
                async with self.database.session() as session:
                    await self.vault.remember(session, person_id, password)
                    await session.commit()
        except Exception:  # noqa: BLE001 - the account works; only the web page's login waits for the next PUT
            log.exception("Could not keep the password of %s for the web page", jid)

    async def person_named(self, jid: str, name: str) -> None:
        if self.names is not None:
            await self.names.person_named(jid, name)

    async def person_left(self, jid: str) -> None:
        if self.names is not None:
            await self.names.person_left(jid)
