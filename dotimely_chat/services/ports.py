"""What the services need from outside (the XMPP server, the component's link), as Protocols and the data
types that cross them. The component and the server adapters implement them; services import only this.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

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
