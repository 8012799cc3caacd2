"""Users' presence from the privileged presence stream (XEP-0356 managed_entity) to the status observer.

Prosody sends the component every available/unavailable presence of every user, one per resource, and on
connect a copy of every current one. Presence from the MUC service (room occupants) is not a person's.

Protocol trap: slixmpp names a presence's event after its *show*: `presence_available` fires only for a
presence without `<show>`; one with `<show>away</show>` fires `presence_away` (likewise xa, dnd, chat). All
of them are available presences, so we read the generic `presence` event and sort by the stanza itself.

A session that lost its connection hibernates (XEP-0198, mod_smacks) and is ended only when that time is up;
our Prosody module `mod_dotimely_presence` stamps its unavailable presence with when the connection was lost
(`<delay from='<domain>' stamp=…>`), which becomes the last seen. On ejabberd the same stamp comes on the
unavailable our `mod_dotimely_presence.erl` sends for a sleeping push-enabled session; other sessions' ends
are dated through `PresenceSource.went_away_at`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Coroutine
from typing import Any

from slixmpp import Presence

from ..policies import presence as rules
from ..policies.text import within_calendar
from ..services.ports import PresenceSource
from ..services.status import StatusRecorder
from . import stanzas
from .link import ChatComponent

log = logging.getLogger(__name__)
NS_IDLE = "urn:xmpp:idle:1"


def _time(value: str | None) -> dt.datetime | None:
    """An XEP-0082 date-time, or None when absent or malformed."""
    parsed = stanzas.parse_time(value)
    if parsed is None:
        return None
    # A client's clock or a hostile client: year 1 in +05:00 cannot even be turned into UTC, and a time
    # the recorder cannot store would be retried with every flush.
    return parsed.astimezone(dt.UTC) if within_calendar(parsed) else None


def _idle_since(presence: Presence) -> dt.datetime | None:
    idle = presence.xml.find(f"{{{NS_IDLE}}}idle")
    return None if idle is None else _time(idle.get("since"))


def _server_stamp(presence: Presence, domain: str) -> dt.datetime | None:
    """The `<delay>` the server put on the presence. Trusted because mod_dotimely_presence removes any a client
    sends in its own presence (the generated Prosody and ejabberd configs always load it)."""
    delay = stanzas.delay_from(presence.xml, domain)
    return _time(delay.get("stamp")) if delay is not None else None


class PresenceTasks:
    """The presence handler's own background work (asking the server when someone left, settling after a
    reconnection); cancelled when the service stops so none outlives it."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def register_presence(component: ChatComponent, recorder: StatusRecorder, domain: str,
                      source: PresenceSource) -> PresenceTasks:
    tasks = PresenceTasks()

    async def went_away(jid: str, received: dt.datetime) -> None:
        at = await source.went_away_at(jid)
        if at is not None and at < received:
            recorder.people.went_away_earlier(jid, at)

    def on_presence(presence: Presence) -> None:
        sender = presence["from"]
        if sender.domain != domain or not sender.user or presence["to"].bare != component.boundjid.bare:
            return
        kind = presence["type"]  # 'available', a show value, 'unavailable', or a subscription/probe/error type
        if kind == "unavailable":
            stamp, received = _server_stamp(presence, domain), dt.datetime.now(dt.UTC)
            recorder.people.presence(sender.bare, sender.resource, None, rules.last_seen(stamp, received))
            if stamp is None:  # the server may still tell when the client really went (PresenceSource)
                tasks.start(went_away(sender.bare, received))
        elif kind == "available" or kind in rules.SHOW_VALUES:
            status = str(presence["status"] or "")[:1000] or None
            idle = rules.idle_since(_idle_since(presence), dt.datetime.now(dt.UTC))
            recorder.people.presence(sender.bare, sender.resource,
                              rules.ClientPresence(rules.show_value(presence["show"]), status, idle))

    component.add_event_handler("presence", on_presence)
    component.add_event_handler("disconnected", lambda _: recorder.link_lost())

    component.add_event_handler("session_start", lambda _: tasks.start(recorder.link_restored()))
    return tasks
