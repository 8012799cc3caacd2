"""Users' rosters on ejabberd 23.01 through the admin API (services.ports.RosterGateway).

Protocol trap (EJABBERD.md §1): a privileged roster set (XEP-0356) from the component fails on 23.01 with
internal-server-error (`mod_roster` looks up its options for the sender's host, the component's), whatever the
item says; `add_rosteritem` / `delete_rosteritem` / `get_roster` of mod_http_api work (~1.5 ms a call).
- `add_rosteritem` writes one side only: a mutual contact is two calls, which RosterService makes anyway (each
  person's roster is brought in line on its own). With `subs: both`, online users exchange presence at once.
- Groups travel as one string separated by `;` (our group names never contain one, policies.contacts), and
  `get_roster` answers one row per group of an item (`group: ""` for none).
- The component's own JID (a domain) is the contact `user: ""`, `host: <component domain>`: that is what makes
  ejabberd send the component the person's presence as a contact, logouts included (servers.ejabberd_presence).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slixmpp import JID

from ..policies.contacts import RosterEntry
from ..services.ports import RosterGateway, ServerRosterItem
from .ejabberd_accounts import EjabberdAdminApi, describe_reply

log = logging.getLogger(__name__)
GROUP_SEPARATOR = ";"


class EjabberdRosterError(RuntimeError):
    pass


class EjabberdRosters(RosterGateway):
    def __init__(self, api: EjabberdAdminApi, component_jid: str,
                 on_component_item: Callable[[str], None] | None = None) -> None:
        self.api = api
        self.component_jid = component_jid
        self.on_component_item = on_component_item  # called with the user's JID once we are in their roster

    async def get_roster(self, jid: str) -> dict[str, ServerRosterItem]:
        user = JID(jid)
        rows = await self._call("get_roster", f"reading the roster of {user.bare}", user=user.user,
                                host=user.domain)
        if not isinstance(rows, list):
            raise EjabberdRosterError(f"ejabberd answered get_roster of {user.bare} with {describe_reply(rows)}")
        merged: dict[str, tuple[str, str, set[str]]] = {}
        for row in rows:
            contact = str(JID(row["jid"]).bare)
            name, subscription, groups = merged.setdefault(contact, (row.get("nick") or "",
                                                                     row.get("subscription") or "none", set()))
            if row.get("group"):
                groups.add(row["group"])
        return {contact: ServerRosterItem(name, subscription, frozenset(groups))
                for contact, (name, subscription, groups) in merged.items()}

    async def set_item(self, jid: str, entry: RosterEntry) -> None:
        user, contact = JID(jid), JID(entry.jid)
        if any(GROUP_SEPARATOR in group for group in entry.groups):
            raise EjabberdRosterError(f"roster group names of {entry.jid} contain {GROUP_SEPARATOR!r}")
        await self._call("add_rosteritem", f"setting {contact.bare} in the roster of {user.bare}",
                         localuser=user.user, localhost=user.domain, user=contact.user, host=contact.domain,
                         nick=entry.name, group=GROUP_SEPARATOR.join(sorted(entry.groups)), subs="both")
        if contact.bare == self.component_jid and self.on_component_item is not None:
            self.on_component_item(jid)

    async def remove_item(self, jid: str, contact_jid: str) -> None:
        user, contact = JID(jid), JID(contact_jid)
        await self._call("delete_rosteritem", f"removing {contact.bare} from the roster of {user.bare}",
                         localuser=user.user, localhost=user.domain, user=contact.user, host=contact.domain)

    async def _call(self, command: str, what: str, **arguments: str) -> Any:
        status, body = await self.api.call(command, **arguments)
        if status != 200 or (command != "get_roster" and body != 0):
            raise EjabberdRosterError(f"{what} failed: ejabberd answered {command} with {status} "
                                      f"{describe_reply(body)}")
        return body
