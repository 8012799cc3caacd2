"""The directory: businesses, their people (with XMPP accounts) and search, for the HTTP API and XMPP.

`DirectoryService` holds one object per concern: `businesses` (businesses.py), `people` (people.py, which
says the order of effects; their accounts in accounts.py), `search` (search.py, and who is asking), and
`effects` (effects.py: what follows a commit: rosters, rooms, names, the web page's password).
"""

from __future__ import annotations

from ..ports import AccountAdapter
from ...storage import Database
from ..rosters import RosterService
from .accounts import Provisioning
from .businesses import Businesses
from .effects import DirectoryEffects
from .people import People
from .search import DirectorySearch


class DirectoryService:
    """The directory's use cases, one object per concern, wired to shared effects."""

    def __init__(self, database: Database, accounts: AccountAdapter, rosters: RosterService | None,
                 domain: str) -> None:
        self.accounts = accounts
        self.effects = DirectoryEffects(database, rosters)
        self.businesses = Businesses(database, self.effects)
        self.people = People(database, Provisioning(accounts, domain), self.effects)
        self.search = DirectorySearch(database, rosters)
