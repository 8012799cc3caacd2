"""The XEP-0114 link to the server: connect, reconnect with backoff, privileges, resynchronisation.

`ChatComponent` is the one slixmpp object. Features (rosters, rooms, observer, commands...) plug into it by
registering resynchronisation steps with `add_resync_step`, which run after every (re)connection once the
server has told us our privileges, and by handling slixmpp events.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slixmpp import ComponentXMPP, Presence
from slixmpp.plugins.xep_0356.permissions import IqPermission
from slixmpp.stanza import StreamError
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from ..config import Config
from .privileges import AdvertisedPrivileges, parse_privilege_advertisement
from .stanza_guard import check_outgoing

log = logging.getLogger(__name__)

ResyncStep = Callable[[], Awaitable[None]]

PLUGINS = ("xep_0030", "xep_0004", "xep_0050", "xep_0055", "xep_0199", "xep_0297", "xep_0356", "xep_0319")
MAX_BACKOFF_SECONDS = 5.0
PRIVILEGES_WAIT_SECONDS = 5.0


@dataclass
class LinkState:
    """What /healthz and the logs say about the link."""

    connected: bool = False
    since: float | None = None
    connections: int = 0
    resyncs_completed: int = 0
    last_error: str | None = None
    refused: str | None = None  # set when the server will not take us at all: the caller gives up


class ChatComponent(ComponentXMPP):
    def __init__(self, config: Config) -> None:
        super().__init__(config.component.jid, config.component.secret,
                         config.xmpp.server_host, config.component.port)
        self.config = config
        self.state = LinkState()
        self.privileges: AdvertisedPrivileges | None = None
        self._privileges_event = asyncio.Event()
        self._resync_steps: list[tuple[str, ResyncStep]] = []
        self._resync_task: asyncio.Task[None] | None = None
        self._reconnect_handle: asyncio.TimerHandle | None = None
        self._stopping = False
        self._backoff = 0.5

        for plugin in PLUGINS:
            self.register_plugin(plugin)
        self.plugin["xep_0030"].add_identity(category="component", itype="generic", name="DoTimely chat")

        self.register_handler(Callback("dotimely privileges", StanzaPath("message/privilege"),
                                       self._on_privileges))
        # slixmpp 1.17's component answers probes from users not in its in-memory roster with
        # 'unsubscribed', which makes Prosody downgrade the users' roster item for us (FACTS.md).
        self.del_event_handler("presence_probe", self._handle_probe)
        self.add_event_handler("presence_probe", self._answer_probe)
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("stream_error", self._on_stream_error)
        self.add_event_handler("connection_failed", self._on_connection_failed)

    # ------------------------------------------------------------------------------------------ lifecycle
    def add_resync_step(self, name: str, step: ResyncStep) -> None:
        """Run `step` after every (re)connection, in registration order."""
        self._resync_steps.append((name, step))

    def start(self) -> None:
        self._stopping = False
        log.info("Connecting to %s:%s as %s", self.config.xmpp.server_host, self.config.component.port,
                 self.boundjid.bare)
        self.connect()

    async def stop(self) -> None:
        """Close the stream cleanly and stop reconnecting."""
        self._stopping = True
        if self._reconnect_handle:
            self._reconnect_handle.cancel()
        self.cancel_connection_attempt()
        if self._resync_task and not self._resync_task.done():
            self._resync_task.cancel()
        if self.transport is not None:
            await self.disconnect(wait=2.0, reason="dotimely-chat stopping")
        self.state.connected = False

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

    def reschedule_connection_attempt(self) -> asyncio.Future | None:  # type: ignore[override]
        # slixmpp grows its wait up to 300 s; an operator restarting Prosody expects seconds.
        if self._current_connection_attempt is None or self._stopping:
            return None
        self._connect_loop_wait = min(MAX_BACKOFF_SECONDS, self._connect_loop_wait * 2 + 0.5)
        self._current_connection_attempt = asyncio.ensure_future(self._connect_loop(), loop=self.loop)
        return self._current_connection_attempt

    def send(self, data: StanzaBase | str, use_filters: bool = True) -> None:
        """Every stanza passes here (slixmpp queues it and serialises it later): text XML cannot carry is
        refused now, in the caller, instead of making the server close the stream (stanza_guard.py)."""
        if isinstance(data, StanzaBase):
            check_outgoing(data.xml, str(data["to"]) if "to" in data.interfaces else "?", data.name)
        super().send(data, use_filters)

    def connection_made(self, transport: asyncio.BaseTransport, send_event: bool = True) -> None:
        # Stanzas are small and often answered by another small one: without TCP_NODELAY Nagle's algorithm
        # holds a write until the server's delayed ACK (about 40 ms on Linux).
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport, send_event)

    # ---------------------------------------------------------------------------------------- handlers
    def _on_session_start(self, _event: object) -> None:
        self.state.connected = True
        self.state.since = time.time()
        self.state.connections += 1
        self.state.last_error = None
        self._backoff = 0.5
        log.info("Component %s connected (connection %d)", self.boundjid.bare, self.state.connections)
        self._resync_task = asyncio.ensure_future(self._resynchronise(self.state.connections))

    def _on_disconnected(self, reason: object) -> None:
        was_connected = self.state.connected
        self.state.connected = False
        self._privileges_event.clear()
        if self._stopping:
            return
        if was_connected:
            log.warning("Lost the link to the server (%s); reconnecting", reason or "connection closed")
        delay = self._backoff
        self._backoff = min(MAX_BACKOFF_SECONDS, self._backoff * 2)
        self._reconnect_handle = self.loop.call_later(delay, self._reconnect)

    def _reconnect(self) -> None:
        if not self._stopping and self.transport is None:
            self.connect()

    def _on_connection_failed(self, error: object) -> None:
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
        element = msg.xml.find("{urn:xmpp:privilege:2}privilege")  # type: ignore[attr-defined]
        if element is None:
            return
        server = str(msg["from"])  # type: ignore[index]
        granted = parse_privilege_advertisement(server, element)
        # Store the IQ permissions where slixmpp's send_privileged_iq looks for them.
        slix_perms = self.plugin["xep_0356"].granted_privileges[server]
        for namespace, iq_type in granted.iq.items():
            slix_perms.iq[namespace] = IqPermission(iq_type)
        self.privileges = granted
        log.info("Server %s granted %s, IQ %s", server, granted.accesses, granted.iq)
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
