"""The server adapter: one implementation of each `services.ports` server port, chosen from `xmpp.server`.

`app.py` builds everything server-specific through `build_server_adapter`; services and policies only see the
ports. What each server needs and why is in the implementing modules (and FACTS.md, EJABBERD.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..component.link import ChatComponent
from ..component.muc_bookmarks import PepBookmarks
from ..component.muc_requests import IQ_TIMEOUT
from ..component.pep_profile import PepProfile
from ..component.rosters import PrivilegedRosters
from ..config import Config
from ..services.names import ProfileGateway
from ..services.ports import (
    AccountAdapter,
    ArchiveRetention,
    BookmarkStore,
    PresenceSource,
    RosterGateway,
)
from .accounts import ProsodyAccounts
from .ejabberd_accounts import EjabberdAccounts, EjabberdAdminApi, admin_api_url
from .ejabberd_admin_failover import ClusterAdminApi
from .ejabberd_cluster import node_config
from .ejabberd_component_check import other_component
from .ejabberd_pep import EjabberdBookmarks, EjabberdProfile
from .ejabberd_presence import ContactPresence
from .ejabberd_retention import EjabberdArchiveExpiry
from .ejabberd_rosters import EjabberdRosters

log = logging.getLogger(__name__)

ComponentItemCallback = Callable[[str], None]


class PrivilegedPresence(PresenceSource):
    """Prosody: the privileged presence stream (XEP-0356 managed_entity) sends every current presence on each
    (re)connection, and our mod_dotimely_presence an unavailable however a session ends: nothing to ask for."""

    async def refresh(self, jids: list[str]) -> None:
        return None

    async def went_away_at(self, jid: str) -> dt.datetime | None:
        return None  # the unavailable is stamped already (mod_dotimely_presence)


@dataclass
class ServerAdapter:
    """What differs between the XMPP servers, one port per concern (services/ports.py)."""

    server: str  # xmpp.server: for logs and health, never for decisions outside servers/
    accounts: AccountAdapter
    rosters: RosterGateway
    presence: PresenceSource
    bookmarks: BookmarkStore  # Prosody: XEP-0402 in PEP (privileged IQ); ejabberd: storage:bookmarks (admin API)
    profiles: ProfileGateway  # Prosody: PEP nick + vCard (privileged IQ); ejabberd: the admin API
    retention: ArchiveRetention | None  # None: the server expires its archives itself (Prosody)
    # Why the component must not connect now (ejabberd: its JID is connected already), or None. Prosody
    # refuses a second connection itself (<conflict/>, component/link.py): no check there.
    connect_check: Callable[[], Awaitable[str | None]] | None = None
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        """Release what the adapter holds (the admin API's connections)."""
        for close in self.closers:
            await close()


def admin_api(config: Config) -> EjabberdAdminApi:
    """ejabberd's admin HTTP API: one node's, or in a cluster every node's (the next one answers when a node
    is down; every node answers for the whole cluster)."""
    if not config.ejabberd.clustered:
        return EjabberdAdminApi(admin_api_url(config))
    return ClusterAdminApi([admin_api_url(node_config(config, node)) for node in config.ejabberd.cluster])


def build_server_adapter(config: Config, component: ChatComponent,
                         on_component_item: ComponentItemCallback | None = None) -> ServerAdapter:
    """The adapter of `config.xmpp.server`. `on_component_item(user_jid)` is called once the component's item
    is set in a user's roster (the component then tells the user's clients that it is there)."""
    if config.xmpp.server == "ejabberd":
        api = admin_api(config)
        log.info("Server adapter: ejabberd (admin API %s)", api.base_url)
        return ServerAdapter(
            server="ejabberd",
            accounts=EjabberdAccounts(api),
            rosters=EjabberdRosters(api, component.boundjid.bare, on_component_item),
            presence=ContactPresence(component, api, config.xmpp.session_hibernation),
            bookmarks=EjabberdBookmarks(api),
            profiles=EjabberdProfile(api, component),
            retention=EjabberdArchiveExpiry(api),
            connect_check=lambda: other_component(api, config),
            closers=[api.close],
        )
    return ServerAdapter(
        server="prosody",
        accounts=ProsodyAccounts(component),
        rosters=PrivilegedRosters(component, on_component_item),
        presence=PrivilegedPresence(),
        bookmarks=PepBookmarks(component, IQ_TIMEOUT),
        profiles=PepProfile(component),
        retention=None,
    )
