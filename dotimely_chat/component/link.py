"""The XEP-0114 link to the server: connect, reconnect with backoff, privileges, resynchronisation.

`ChatComponent` is the one slixmpp object. Features (rosters, rooms, observer, commands...) plug into it by
registering resynchronisation steps with `add_resync_step`, which run after every (re)connection once the
server has told us our privileges, and by handling slixmpp events.

A link can die silently: a network cut without FIN or RST leaves the socket open and TCP quiet for minutes.
The keepalive pings and the handshake watchdog of `KeptStream` (kept_stream.py) notice it: a warning, the
socket is dropped and made again, `/healthz` says disconnected, and what needs the link answers
`LinkUnavailable` (HTTP 503 + Retry-After) at once instead of waiting for its own timeout (`on_link`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from slixmpp import Presence
from slixmpp.plugins.xep_0356.permissions import IqPermission
from slixmpp.stanza import StreamError
from slixmpp.xmlstream import StanzaBase
from slixmpp.stanza.rootstanza import RootStanza
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath, StanzaPath

from ..config import Config
from ..errors import LinkUnavailable
from .kept_stream import KeptStream
from .privileges import NAMESPACES as PRIVILEGE_NAMESPACES
from .privileges import NS_V1 as PRIVILEGE_V1
from .privileges import AdvertisedPrivileges, parse_privilege_advertisement
from .stanza_guard import check_outgoing

log = logging.getLogger(__name__)

ResyncStep = Callable[[], Awaitable[None]]
LateCallback = Callable[[dt.datetime], Awaitable[None]]
T = TypeVar("T")

PLUGINS = ("xep_0030", "xep_0004", "xep_0050", "xep_0055", "xep_0199", "xep_0297", "xep_0356", "xep_0319")
PRIVILEGES_WAIT_SECONDS = 5.0
# A ping answered this late means the link stalled meanwhile (short of the timeout): what arrived in the
# meantime may have come late, and its times are checked against the archive (`on_late_answer`).
LATE_ANSWER_SECONDS = 1.0


@dataclass
class LinkState:
    """What /healthz and the logs say about the link."""

    connected: bool = False
    since: float | None = None
    connections: int = 0
    resyncs_completed: int = 0
    last_error: str | None = None
    refused: str | None = None  # set when the server will not take us at all: the caller gives up
    lost: int = 0                      # times an established link was lost (closed, or silent)
    last_ping_rtt: float | None = None  # seconds, of the last keepalive ping answered



async def until_lost(awaitable: Awaitable[T], lost: asyncio.Future[None], message: str) -> T:
    """The awaitable's result, unless `lost` (a stream's end) comes first: then it is cancelled and
    LinkUnavailable(message) raised."""
    task: asyncio.Future[T] = asyncio.ensure_future(awaitable)
    try:
        waiting: list[asyncio.Future[Any]] = [task, lost]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task.done():
        return task.result()
    task.cancel()
    raise LinkUnavailable(message)

class ChatComponent(KeptStream):
    def __init__(self, config: Config) -> None:
        super().__init__(config, config.xmpp.server_host)
        self.state = LinkState()
        self.privileges: AdvertisedPrivileges | None = None
        self._privileges_event = asyncio.Event()
        self._resync_steps: list[tuple[str, ResyncStep]] = []
        self._resync_task: asyncio.Task[None] | None = None
        self._prompt_at = dt.datetime.now(dt.UTC)  # when the server last answered a ping at once
        self._late_callbacks: list[LateCallback] = []
        self._late_tasks: set[asyncio.Task[None]] = set()
        self._lost: asyncio.Future[None] | None = None  # resolved when the current link is lost

        for plugin in PLUGINS:
            self.register_plugin(plugin)
        self.plugin["xep_0030"].add_identity(category="component", itype="generic", name="DoTimely chat")

        self.register_handler(Callback("dotimely privileges", StanzaPath("message/privilege"),
                                       self._on_privileges))
        self.register_handler(Callback("dotimely privileges:1", MatchXPath(
            f"{{{self.default_ns}}}message/{{{PRIVILEGE_V1}}}privilege"), self._on_privileges))
        # slixmpp 1.17's component answers probes from users not in its in-memory roster with
        # 'unsubscribed', which makes Prosody downgrade the users' roster item for us (FACTS.md).
        self.del_event_handler("presence_probe", self._handle_probe)
        self.add_event_handler("presence_probe", self._answer_probe)
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("stream_error", self._on_stream_error)

    # ------------------------------------------------------------------------------------------ lifecycle
    def add_resync_step(self, name: str, step: ResyncStep) -> None:
        """Run `step` after every (re)connection, in registration order."""
        self._resync_steps.append((name, step))

    def on_late_answer(self, callback: LateCallback) -> None:
        """Call `callback(since)` when a ping comes back late (the link stalled, and recovered before the
        timeout): whatever reached us after `since` (the last answer that came at once) may have come late."""
        self._late_callbacks.append(callback)

    def start(self) -> None:
        self._stopping = False
        log.info("Connecting to %s:%s as %s", self.config.xmpp.server_host, self.config.component.port,
                 self.boundjid.bare)
        self.connect()
        self._arm_handshake_watchdog()

    async def stop(self) -> None:
        """Close the stream cleanly and stop reconnecting."""
        self._stand_down()
        if self._resync_task and not self._resync_task.done():
            self._resync_task.cancel()
        if self.transport is not None:
            await self.disconnect(wait=2.0, reason="dotimely-chat stopping")
        self.state.connected = False
        self._resolve_lost()

    @property
    def link_up(self) -> bool:
        return self.state.connected

    @property
    def stream_up(self) -> bool:
        return self.state.connected

    @property
    def handshakes(self) -> int:
        return self.state.connections

    def require_link(self, what: str) -> None:
        """Raise LinkUnavailable (HTTP 503 + Retry-After) when the link is down: nothing is sent then."""
        if not self.state.connected:
            raise LinkUnavailable(f"{what}: the XMPP server is not reachable now ("
                                  f"{self.state.last_error or 'the link is down'}); try again shortly")

    async def on_link(self, awaitable: Awaitable[T], what: str) -> T:
        """Await an answer of the server, or raise LinkUnavailable as soon as the link is lost meanwhile
        (rather than after the request's own timeout)."""
        lost = self._lost
        if not self.state.connected or lost is None:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            elif isinstance(awaitable, asyncio.Future):
                awaitable.cancel()
            self.require_link(what)
            raise LinkUnavailable(f"{what}: the link to the XMPP server is down; try again shortly")
        return await until_lost(awaitable, lost, f"{what}: the link to the XMPP server was lost; try again shortly")

    def send(self, data: Any, use_filters: bool = True) -> None:  # type: ignore[override]
        """Every stanza passes here (slixmpp queues it and serialises it later)."""
        # slixmpp 1.17 keeps stanzas sent while the stream is down and sends them after the next handshake:
        # requests whose callers gave up long ago (a room's destroy after its retry made it again). Drop them;
        # what they were for is repaired by the resynchronisation after every connection.
        if isinstance(data, RootStanza) and not self._session_started:
            log.debug("Not sent (the link is down): %s", data.xml.tag)
            self.event("stanza_not_sent", data)
            return
        # Text XML cannot carry is refused now, in the caller, instead of making the server close the stream
        # (stanza_guard.py).
        if isinstance(data, StanzaBase):
            check_outgoing(data.xml, str(data["to"]) if "to" in data.interfaces else "?", data.name)
        super().send(data, use_filters)

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until the handshake succeeded and the first resynchronisation finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state.connected and self.state.resyncs_completed >= self.state.connections > 0:
                return True
            if self.state.refused:
                return False
            await asyncio.sleep(0.05)
        return False

    # ---------------------------------------------------------------------------------------- handlers
    def _on_session_start(self, _event: object) -> None:
        self.state.connected = True
        self.state.since = time.time()
        self.state.connections += 1
        self.state.last_error = None
        self._lost = asyncio.get_running_loop().create_future()
        log.info("Component %s connected (connection %d)", self.boundjid.bare, self.state.connections)
        self._resync_task = asyncio.ensure_future(self._resynchronise(self.state.connections))
        self._prompt_at = dt.datetime.now(dt.UTC)  # the link was fine at the handshake
        self._keep_up()

    def _on_disconnected(self, reason: object) -> None:
        was_connected = self.state.connected
        self.state.connected = False
        self._privileges_event.clear()
        self._stop_keepalive()
        if was_connected and not self._stopping and self._lost is not None and not self._lost.done():
            self.state.lost += 1  # (a silent link was counted by _on_ping_unanswered)
        self._resolve_lost()
        if self._stopping:
            return
        if was_connected:
            log.warning("Lost the link to the server (%s); reconnecting", reason or "connection closed")
        self._reconnect_later()

    def _resolve_lost(self) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    # ---------------------------------------------------------------------- noticing a silent link
    def _on_ping_answered(self, rtt: float) -> None:
        self.state.last_ping_rtt = rtt
        if rtt >= LATE_ANSWER_SECONDS:
            log.warning("The server answered a ping after %.1f s: the link stalled; checking the times of "
                        "what arrived since %s against the archive", rtt, self._prompt_at.isoformat())
            self._late_answer(self._prompt_at)
        self._prompt_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=rtt)

    def _late_answer(self, since: dt.datetime) -> None:
        for callback in self._late_callbacks:
            task = asyncio.ensure_future(callback(since))
            self._late_tasks.add(task)
            task.add_done_callback(self._late_done)

    def _late_done(self, task: asyncio.Task[None]) -> None:
        self._late_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Checking the times after a late ping answer failed", exc_info=task.exception())

    def _on_ping_unanswered(self, timeout: float) -> None:
        self.state.connected = False
        self.state.lost += 1
        self.state.last_error = f"no answer from the server to a ping within {timeout:.0f} s"
        log.warning("No answer from %s to a ping within %.0f s: the link to %s:%s is lost (a silent network "
                    "cut?); dropping it and reconnecting", self.config.xmpp.domain, timeout,
                    self.config.xmpp.server_host, self.config.component.port)
        self._resolve_lost()
        self.abort()  # -> connection_lost -> 'disconnected' -> _on_disconnected schedules the reconnection

    def _on_handshake_missing(self, reason: str) -> None:
        self.state.last_error = reason
        log.warning("No handshake with %s within %.0f s; trying again", self.where, self.handshake_timeout)

    def _on_unreachable(self, error: object) -> None:
        self.state.last_error = f"cannot reach {self.config.xmpp.server_host}:{self.config.component.port}"
        log.debug("Connection attempt failed: %s", error)

    def _on_stream_error(self, error: StreamError) -> None:
        condition = error["condition"]
        if condition == "not-authorized":
            self.state.last_error = "the server refused the component secret (component.secret)"
        elif condition == "host-unknown":
            self.state.last_error = f"the server has no component {self.boundjid.bare} (component.jid)"
        elif condition == "conflict":
            # Prosody 0.12 (component_conflict_resolve = "kick_new") refuses a second connection of a
            # component JID with <conflict/>. Before our first session that is another instance: retrying
            # every few seconds would log forever and never win. After one, it may be our own old link that
            # the server has not noticed closing yet, so we keep retrying then.
            self.state.last_error = (f"another component is already connected to "
                                     f"{self.config.xmpp.server_host}:{self.config.component.port} as "
                                     f"{self.boundjid.bare} (a second dotimely-chat on this server?)")
            if self.state.connections == 0:
                self.state.refused = self.state.last_error
                self._stopping = True
        else:
            self.state.last_error = f"stream error {condition}"
        log.error("Server closed the component stream: %s", self.state.last_error)

    def _on_privileges(self, msg: object) -> None:
        element = next((found for ns in PRIVILEGE_NAMESPACES
                        if (found := msg.xml.find(f"{{{ns}}}privilege")) is not None), None)  # type: ignore[attr-defined]
        if element is None:
            return
        server = str(msg["from"])  # type: ignore[index]
        granted = parse_privilege_advertisement(server, element)
        # Store the IQ permissions where slixmpp's send_privileged_iq looks for them.
        slix_perms = self.plugin["xep_0356"].granted_privileges[server]
        for namespace, iq_type in granted.iq.items():
            slix_perms.iq[namespace] = IqPermission(iq_type)
        self.privileges = granted
        log.info("Server %s granted (privilege:%d) %s, IQ %s", server, granted.version, granted.accesses,
                 granted.iq)
        self._privileges_event.set()

    def _answer_probe(self, probe: Presence) -> None:
        self.send_presence(pto=probe["from"].bare, pfrom=self.boundjid.bare)

    async def _resynchronise(self, connection: int) -> None:
        try:
            await asyncio.wait_for(self._privileges_event.wait(), PRIVILEGES_WAIT_SECONDS)
        except TimeoutError:
            log.error("The server advertised no XEP-0356 privileges within %.0f s: is mod_privilege enabled "
                      "in the VirtualHost and the Component sections?", PRIVILEGES_WAIT_SECONDS)
        for name, step in self._resync_steps:
            started = time.monotonic()
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Resynchronisation step %r failed", name)
            else:
                log.info("Resynchronisation step %r done in %.0f ms", name,
                         (time.monotonic() - started) * 1000)
        if connection == self.state.connections:
            self.state.resyncs_completed = connection
