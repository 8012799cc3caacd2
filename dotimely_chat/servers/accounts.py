"""Creating XMPP accounts on the server: the `services.ports.AccountAdapter` of each server kind.

Prosody: XEP-0133 admin commands (mod_admin_adhoc) run by the component over the link it already has, so
it works against a server on another machine too. It needs the component's JID in the VirtualHost's
`admins` (the generated config does that), which makes the component a host admin.
"""

from __future__ import annotations

import logging
from typing import Any

from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins.xep_0004 import Form

from ..component.link import ChatComponent
from ..errors import UNAVAILABLE, DomainError, LinkUnavailable
from ..services.ports import AccountAdapter

log = logging.getLogger(__name__)

ADMIN_NS = "http://jabber.org/protocol/admin"
ADD_USER = f"{ADMIN_NS}#add-user"
CHANGE_PASSWORD = f"{ADMIN_NS}#change-user-password"
DELETE_USER = f"{ADMIN_NS}#delete-user"


class AccountCommandError(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(UNAVAILABLE, message)


class ProsodyAccounts(AccountAdapter):
    """XEP-0133 on Prosody 0.12 (mod_admin_adhoc)."""

    def __init__(self, xmpp: ChatComponent, timeout: float = 10.0) -> None:
        self.xmpp, self.timeout = xmpp, timeout

    async def create_account(self, jid: str, password: str) -> bool:
        account = JID(jid)
        note = await self._run(account.domain, ADD_USER, {
            "accountjid": account.bare, "password": password, "password-verify": password})
        if note is None:
            log.info("Created account %s", account.bare)
            return True
        if "exists" in note.lower():
            return False
        raise AccountCommandError(f"the server refused account {account.bare}: {note}")

    async def set_password(self, jid: str, password: str) -> None:
        account = JID(jid)
        note = await self._run(account.domain, CHANGE_PASSWORD, {"accountjid": account.bare, "password": password})
        if note is not None:
            raise AccountCommandError(f"the server refused the new password of {account.bare}: {note}")

    async def delete_account(self, jid: str) -> None:
        account = JID(jid)
        note = await self._run(account.domain, DELETE_USER, {"accountjids": account.bare})
        if note is not None:
            raise AccountCommandError(f"the server refused to delete {account.bare}: {note}")
        log.info("Deleted account %s", account.bare)

    async def _run(self, domain: str, node: str, values: dict[str, str]) -> str | None:
        """Execute an admin command and submit its form. Returns the text of an error note, if any."""
        command = node.rsplit("#", 1)[1]

        async def send(iq: Any) -> Any:  # a lost link answers LinkUnavailable at once
            return await self.xmpp.on_link(iq.send(timeout=self.timeout), f"admin command {command}")

        self.xmpp.require_link(f"admin command {command}")
        try:
            first = self.xmpp.make_iq_set(ito=domain, ifrom=self.xmpp.boundjid.bare)
            first["command"]["node"] = node
            first["command"]["action"] = "execute"
            reply = await send(first)
            session = reply["command"]["sessionid"]
            form = Form()
            form["type"] = "submit"
            form.add_field(var="FORM_TYPE", ftype="hidden", value=ADMIN_NS)
            for var, value in values.items():
                form.add_field(var=var, value=value)
            second = self.xmpp.make_iq_set(ito=domain, ifrom=self.xmpp.boundjid.bare)
            second["command"]["node"] = node
            second["command"]["action"] = "complete"
            second["command"]["sessionid"] = session
            second["command"].append(form)
            done = await send(second)
        except IqError as exc:
            raise AccountCommandError(
                f"admin command {node.rsplit('#', 1)[1]} refused ({exc.condition}); is the component "
                f"listed in the VirtualHost's admins with mod_admin_adhoc enabled?") from None
        except IqTimeout:
            raise LinkUnavailable(f"admin command {command}: no answer from the server within "
                                  f"{self.timeout:.0f} s") from None
        for note_type, text in done["command"]["notes"]:
            if note_type == "error":
                return str(text)
        return None
