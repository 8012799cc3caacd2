"""One component per JID on ejabberd: asked before the component connects.

ejabberd 23.01 takes a second XEP-0114 connection of a component JID that is connected already and spreads
the JID's stanzas over both (Prosody refuses the second one with <conflict/>, component/link.py). A second
dotimely-chat on the same server would get part of the first one's stanzas: seen, the first one's ping
answers went to the second and the first dropped its link. Our node module mod_dotimely_routes
(ejabberd_modules/) counts the JID's connections for the admin API; with one there already, the component
does not connect.
"""

from __future__ import annotations

import asyncio
import logging

from ..config import Config
from ..errors import LinkUnavailable
from .ejabberd_accounts import EjabberdAdminApi, describe_reply

log = logging.getLogger(__name__)

COMMAND = "dotimely_component_connections"
RECHECKS = 3
RECHECK_SECONDS = 0.5


async def other_component(api: EjabberdAdminApi, config: Config) -> str | None:
    """Why the component must not connect (its JID is connected already), or None. A connection seen is
    asked about again for a moment (one closed just before, e.g. by our own restart, may still be counted
    while the node tears it down). A node that cannot be asked (down, or without our module) is no reason
    to stay away: the link's own retries take over."""
    connections = await _connections(api, config.component.jid)
    for _ in range(RECHECKS):
        if not connections:
            return None
        await asyncio.sleep(RECHECK_SECONDS)
        connections = await _connections(api, config.component.jid)
    if not connections:
        return None
    return (f"another component is already connected to ejabberd as {config.component.jid} ({connections} "
            f"connection{'s' if connections > 1 else ''}; a second dotimely-chat on this server?)")


async def _connections(api: EjabberdAdminApi, jid: str) -> int | None:
    """The JID's connections on the node (the whole cluster), or None when the node cannot tell."""
    try:
        status, body = await api.call(COMMAND, host=jid)
    except LinkUnavailable as exc:
        log.warning("Could not ask ejabberd whether %s is connected already: %s", jid, exc)
        return None
    connections = body.get("connections") if isinstance(body, dict) else None  # {"connections": N}
    if status != 200 or not isinstance(connections, int):
        log.warning("Could not ask ejabberd whether %s is connected already: %s %s", jid, status,
                    describe_reply(body))
        return None
    return connections
