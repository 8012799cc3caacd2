"""Ports: what the services and the API need from outside, as Protocols. The outside implements them.

# The XMPP server adapter

Everything that differs between XMPP servers sits behind the Protocols of this section, one per concern;
`servers/` implements them once per server (Prosody today; ejabberd next, issue 17), and the composition
(`app.py`) picks the implementation from `xmpp.server`. Services and policies never learn which server runs.

`servers.adapter.ServerAdapter` bundles one implementation of each for the server that runs:
- accounts (`AccountAdapter`; Prosody: `servers.accounts.ProsodyAccounts`, XEP-0133 over the link; ejabberd:
  `servers.ejabberd_accounts.EjabberdAccounts`, the admin API);
- rosters (`RosterGateway`; Prosody: `component.rosters.PrivilegedRosters`, XEP-0356; ejabberd:
  `servers.ejabberd_rosters.EjabberdRosters`, the admin API: a privileged roster set fails on 23.01);
- the presence source (`PresenceSource`: what the component must do after each (re)connection to hear the
  presence of everyone online);
- bookmarks (`BookmarkStore`), names (`services.names.ProfileGateway`) and archive retention
  (`ArchiveRetention`).
To come: rooms (creation, affiliations, config), archive reads (see the archive section), the one-to-one
block, upload discovery.

# The XMPP link

`XmppLink`: what the API reads of the component's XEP-0114 link (`component.link.ChatComponent`
implements it): whether it is up, and the figures /healthz reports.

# Reading a room's archive

`RoomArchive` (with `ArchivedMessage`, `Mark`, `ArchiveError`): what the status back-fill and the export
read of a room's archive (`component.muc_archive.MucArchive` implements it, XEP-0313 over the link).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from ..policies.contacts import RosterEntry

# ------------------------------------------------------------------------------- the XMPP server adapter


class AccountAdapter(Protocol):
    """XMPP accounts on the server. The JIDs are bare JIDs on the server's domain. A server that does not
    answer raises `errors.LinkUnavailable`; one that refuses raises a DomainError (UNAVAILABLE)."""

    async def create_account(self, jid: str, password: str) -> bool:
        """Create the account. False (and nothing changed) when it exists already."""
        ...

    async def set_password(self, jid: str, password: str) -> None: ...

    async def delete_account(self, jid: str) -> None: ...

    async def ensure_account(self, jid: str, password: str) -> bool:
        """Create the account, or set its password if it exists. True when it was created. (The same on every
        server: implementations that subclass this protocol inherit it.)"""
        if await self.create_account(jid, password):
            return True
        await self.set_password(jid, password)
        return False


@dataclass(frozen=True)
class ServerRosterItem:
    """One item of a user's roster as the server holds it."""

    name: str
    subscription: str
    groups: frozenset[str]


class RosterGateway(Protocol):
    """The server side of users' rosters. Items are set with subscription `both` (a mutual contact is set on
    both sides by the caller, one side per call)."""

    async def get_roster(self, jid: str) -> dict[str, ServerRosterItem]: ...

    async def set_item(self, jid: str, entry: RosterEntry) -> None: ...

    async def remove_item(self, jid: str, contact_jid: str) -> None: ...


class PresenceSource(Protocol):
    """Makes sure the component hears the presence of people (their available presence, changes, and an
    unavailable however a session ends)."""

    async def refresh(self, jids: list[str]) -> None:
        """After each (re)connection: ask for the current presence of these bare JIDs (the people of every
        business), where the server does not send it by itself."""
        ...

    async def went_away_at(self, jid: str) -> dt.datetime | None:
        """After a person's last client went away without a time stamp from the server: when it really went
        (a session kept after its connection was lost ends later), or None when the server cannot tell."""
        ...


class BookmarkStore(Protocol):
    """Autojoin bookmarks of rooms in a user's account (Prosody: XEP-0402 in PEP through privileged IQs)."""

    async def publish(self, user_jid: str, room_jid: str, name: str, nick: str) -> None: ...

    async def retract(self, user_jid: str, room_jid: str) -> None: ...

    async def read(self, user_jid: str) -> dict[str, dict[str, Any]]: ...


class ArchiveRetention(Protocol):
    """Deletes the server's archived messages older than the retention, where the server does not expire
    them by itself (Prosody does: mod_mam's archive_expires_after in the generated config; ejabberd 23.01
    does not: `servers.ejabberd_retention.EjabberdArchiveExpiry`). `services.retention.RetentionHousekeeping`
    calls it on each of its passes."""

    async def delete_older_than(self, seconds: int) -> None:
        """One pass, users' and rooms' archives (an implementation may skip passes too close together).
        Raises on failure."""
        ...


# ------------------------------------------------------------------------------------------- the XMPP link


class LinkFigures(Protocol):
    """What /healthz says about the link (`component.link.LinkState` has these fields)."""

    @property
    def connected(self) -> bool: ...

    @property
    def connections(self) -> int:
        """Streams established since the start (1 after the first connection)."""
        ...

    @property
    def resyncs_completed(self) -> int:
        """The connection whose resynchronisation finished last: equal to `connections` once caught up."""
        ...

    @property
    def lost(self) -> int:
        """Times an established link was lost (closed, or silent)."""
        ...

    @property
    def last_ping_rtt(self) -> float | None:
        """Seconds, of the last keepalive ping answered."""
        ...

    @property
    def last_error(self) -> str | None: ...


class XmppLink(Protocol):
    """The component's link to the XMPP server, as the API sees it."""

    @property
    def link_up(self) -> bool: ...

    @property
    def state(self) -> LinkFigures: ...


# ============================================================================ reading a room's archive
# Implemented by `component.muc_archive.MucArchive` (XEP-0313 MAM paged with XEP-0059 RSM); used by the
# status back-fill (`services.status_backfill`) and the export (`services.export`).


class Mark(NamedTuple):
    """A member's XEP-0333 marker or XEP-0184 receipt: `kind` is 'received', 'displayed' (markers) or
    'receipt', `reference` the id of the message it names (the room's stanza-id, or the sender's origin-id
    or message id: clients differ)."""

    kind: str
    reference: str


@dataclass(frozen=True)
class ArchivedMessage:
    """One archived groupchat message of a room.

    `stanza_id` is the MAM result id (= the room's XEP-0359 stanza-id); `sent_at` the server's time stamp
    (UTC, with whatever fraction of a second the server gives: none on Prosody 0.12, microseconds on
    ejabberd); `sender_jid` the sender's bare real JID as the server stamped it, or None when the archive
    does not say; `markers` the XEP-0333 markers and XEP-0184 receipts it carries; `attachment_urls` the
    jabber:x:oob URLs."""

    room_jid: str
    stanza_id: str
    sent_at: dt.datetime
    sender_jid: str | None
    nick: str
    body: str | None
    origin_id: str | None
    message_id: str | None
    attachment_urls: tuple[str, ...]
    markers: tuple[Mark, ...]

    @property
    def body_is_attachment(self) -> bool:
        """The body is just the attachment's URL (what Conversations and Gajim send with an OOB element)."""
        return self.body is not None and self.body.strip() in self.attachment_urls


class ArchiveError(RuntimeError):
    """The room refused or failed a query. `condition` is the XMPP error condition: 'item-not-found' (no such
    room, or an unknown `after_id`), 'forbidden' (no affiliation / banned), 'remote-server-timeout', …"""

    def __init__(self, room_jid: str, condition: str, message: str) -> None:
        super().__init__(message)
        self.room_jid = room_jid
        self.condition = condition


class RoomArchive(Protocol):
    """Reads a room's archive on the XMPP server."""

    def messages(self, room_jid: str, *, after_id: str | None = None, start: dt.datetime | None = None,
                 end: dt.datetime | None = None) -> AsyncIterator[ArchivedMessage]:
        """The room's messages, oldest first, after `after_id` (exclusive) and within [start, end]
        (inclusive, whole seconds on Prosody). Raises ArchiveError (while iterating)."""
        ...
