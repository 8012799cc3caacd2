"""Ports: what the services and the API need from outside, as Protocols. The outside implements them.

# The XMPP server adapter

Everything that differs between XMPP servers sits behind the Protocols of this section, one per concern;
`servers/` implements them once per server (Prosody today; ejabberd next, issue 17), and the composition
(`app.py`) picks the implementation from `xmpp.server`. Services and policies never learn which server runs.

Today: accounts (`AccountAdapter`; Prosody: `servers.accounts.ProsodyAccounts`, XEP-0133 over the link).
To come here as the ejabberd work needs them, each a Protocol of its own beside `AccountAdapter`: rosters,
the presence source, bookmarks, rooms (creation, affiliations, config), archive reads (see the archive
section), the one-to-one block, retention, upload discovery.

# The XMPP link

`XmppLink`: what the API reads of the component's XEP-0114 link (`component.link.ChatComponent`
implements it): whether it is up, and the figures /healthz reports.
"""

from __future__ import annotations

from typing import Protocol

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
        """Create the account, or set its password if it exists. True when it was created."""
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
