"""A person's XMPP account, made before their directory row (and deleted again if that write fails)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from ...policies.people import localpart_for
from ..ports import AccountAdapter
from .person_input import PersonInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProvidedAccount:
    jid: str
    created: bool  # made by this request: to be deleted again if the directory write fails
    generated_password: str | None  # only when we made the password up (the API answers it once)
    known_password: str | None  # the account's password now, when we know it (kept for the web page)


class Provisioning:
    def __init__(self, accounts: AccountAdapter, domain: str) -> None:
        self.accounts, self.domain = accounts, domain

    async def for_new_person(self, jid: str | None, data: PersonInput) -> ProvidedAccount:
        """Create the account of a person new to the directory (a JID from the name when none is given).

        An account that exists already (made by hand, or left by a failed request) is taken over: it gets
        the given password, or keeps its own when none is given.
        """
        jid = jid or f"{localpart_for(data.display_name)}@{self.domain}"
        password = data.password or secrets.token_urlsafe(12)
        created = await self.accounts.create_account(jid, password)
        if not created and data.password is not None:
            await self.accounts.set_password(jid, data.password)
        return ProvidedAccount(jid, created, password if created and data.password is None else None,
                               password if created else data.password)

    async def for_known_person(self, jid: str, data: PersonInput) -> ProvidedAccount:
        """A person in the directory already: only a given password changes."""
        if data.password is not None:
            await self.accounts.set_password(jid, data.password)
        return ProvidedAccount(jid, False, None, data.password)

    async def undo(self, jid: str) -> None:
        """Delete an account this request created, after its directory write failed."""
        try:
            await self.accounts.delete_account(jid)
        except Exception:  # noqa: BLE001 - the original error matters more
            log.exception("Could not delete the account %s created for a failed directory write", jid)
