"""Hearing people's presence on ejabberd 23.01 (services.ports.PresenceSource).

Protocol trap (EJABBERD.md §1): ejabberd's privileged presence (`managed_entity`) forwards only what a client
itself sends: no unavailable when a session ends without one (stream closed, TCP abort), and nothing of the
people already online when the component connects. So the component is a roster contact of every person of a
business (`subs: both`, servers.ejabberd_rosters, the component's roster entry that policies.contacts gives
everyone anyway): ejabberd then sends it each session's presence as to a contact, with a server-made
unavailable however the session ends, and answers the component's probes with every current presence.
The link answers users' probes with our available presence (slixmpp's default `unsubscribed` would turn the
item into `from`).

Protocol trap: a session with stream management (the web page, phones) whose connection is lost is kept for
mod_stream_mgmt's `resume_timeout` (xmpp.session_hibernation); the unavailable ejabberd sends when it ends
carries no time, and the admin API's `get_last` then says when it ended (whole seconds) with the status
"... Timed out waiting for stream resumption ...". The connection was lost `resume_timeout` before that (a
client may ask for a shorter time; ejabberd 23.01 never grants a longer one than configured).

A push-enabled session (XEP-0357) is kept 72 h by mod_push_keepalive instead; our ejabberd module
mod_dotimely_presence.erl shows it gone after the hibernation time with an unavailable stamped `<delay
from='<domain>'>` (the last seen, as on Prosody; it removes any `<delay>` a client puts into its own presence),
answers probes with that while it sleeps, and shows it back when it resumes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from slixmpp import JID

from ..component.link import ChatComponent
from ..services.ports import PresenceSource
from .ejabberd_accounts import EjabberdAdminApi

log = logging.getLogger(__name__)
PROBES_PER_BATCH = 200  # then yield to the loop: thousands of people do not block the link's reads
RESUMPTION_TIMED_OUT = "Timed out waiting for stream resumption"  # in get_last's status
# get_last must be about the session whose end we just heard (not an earlier one, if ejabberd has not
# recorded this end yet): its time within this much of now (it has whole seconds).
SAME_END_SECONDS = 5.0


class ContactPresence(PresenceSource):
    def __init__(self, component: ChatComponent, api: EjabberdAdminApi, hibernation_seconds: int) -> None:
        self.component, self.api, self.hibernation = component, api, dt.timedelta(seconds=hibernation_seconds)

    async def refresh(self, jids: list[str]) -> None:
        """A probe to each person: ejabberd answers with the presence of each of their online sessions."""
        sender = self.component.boundjid.bare
        for index, jid in enumerate(jids, 1):
            self.component.send_presence(pto=jid, pfrom=sender, ptype="probe")
            if index % PROBES_PER_BATCH == 0:
                await asyncio.sleep(0)
        log.info("Presence probes sent to %d people", len(jids))

    async def went_away_at(self, jid: str) -> dt.datetime | None:
        """When the connection of a session that ended after hibernating was lost; None for any other end."""
        user = JID(jid)
        try:
            status, body = await self.api.call("get_last", user=user.user, host=user.domain)
        except Exception as exc:  # noqa: BLE001 - the last seen stays when we heard it
            log.warning("Could not read the last activity of %s: %s", user.bare, exc)
            return None
        if status != 200 or not isinstance(body, dict) or RESUMPTION_TIMED_OUT not in str(body.get("status")):
            return None
        try:
            ended = dt.datetime.fromisoformat(str(body["timestamp"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            log.warning("get_last of %s answered %r", user.bare, body)
            return None
        if abs((dt.datetime.now(dt.UTC) - ended).total_seconds()) > SAME_END_SECONDS:
            return None
        return ended.astimezone(dt.UTC) - self.hibernation
