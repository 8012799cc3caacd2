"""The component on an ejabberd cluster: one XEP-0114 stream per node, one dispatch of everything received.

Protocol facts (ejabberd 23.01, two nodes on one machine; ../shared/EJABBERD.md §6):
- Privileged presence (mod_privilege) is forwarded only by the node the component is connected to, and
  messages to the component arrive on the stream of the sender's node: a stream per node is needed.
- An IQ sent on stream A to a room running on node B is answered **on stream B** (and never on A). So every
  stanza received on any stream goes through the one set of handlers (and IQ-reply waiters) of the main
  `ChatComponent`: replies are matched whichever stream they come back on.
- Each node sends its own privilege advertisement when a stream to it opens.
- When node A stops, its route for the component goes and everything arrives on B; rooms that ran on A
  restart on B when next joined (hence a resynchronisation through B).
- A room's process starts on the node where its first stanza arrives. The component sends every stanza for a
  room through the stream of the room's node (`room_node`: the room's JID hashed over the nodes), so the rooms
  are spread over the cluster instead of all running on the first node; a room whose node is down is served
  (and restarted) through the stream that carries the rest.

`ClusterComponent` is a `ChatComponent` whose own stream goes to the first node (the "home" stream: its
resynchronisation is ChatComponent's, unchanged) and which holds one `NodeStream` per other node; every
stream keeps itself up the same way (kept_stream.py). What the features send leaves on the home stream while it is up, else on the
first other stream that is; features do not know there are several streams.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import zlib
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar
from xml.etree import ElementTree as ET

from slixmpp import JID
from slixmpp.stanza.rootstanza import RootStanza
from slixmpp.xmlstream import StanzaBase

from ..config import Config
from .kept_stream import KeptStream
from .link import ChatComponent, until_lost
from .stanza_guard import check_outgoing

log = logging.getLogger(__name__)

T = TypeVar("T")
_DISPATCHED = ("message", "presence", "iq")
FAILOVER_GRACE_SECONDS = 1.0


def room_node(room: str, nodes: Sequence[str]) -> str:
    """The node a room runs on: its bare JID hashed over the cluster's nodes (stable across restarts and
    processes, so the bench and the tests can tell where a room is)."""
    return nodes[zlib.crc32(room.lower().encode()) % len(nodes)]


class NodeStream(KeptStream):
    """A second (third...) stream of the component, to one cluster node.

    It handles only its own handshake, stream errors and keepalive pings (KeptStream); every message, presence
    and IQ it receives is handed to the dispatcher's handlers as if it had arrived on the home stream.
    """

    def __init__(self, dispatcher: ClusterComponent, node: str, host: str) -> None:
        super().__init__(dispatcher.config, host)
        self.dispatcher = dispatcher
        self.node = node
        self.host = host
        self.live = False
        self.attachments = 0           # handshakes completed
        self.last_error: str | None = None
        self.lost: asyncio.Future[None] | None = None
        self.del_event_handler("presence_probe", self._handle_probe)  # the dispatcher answers probes
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("stream_error", self._on_stream_error)

    @property
    def stream_up(self) -> bool:
        return self.live

    @property
    def handshakes(self) -> int:
        return self.attachments

    def start(self) -> None:
        self._stopping = False
        log.info("Connecting to ejabberd node %s at %s as %s", self.node, self.where, self.boundjid.bare)
        self.connect()
        self._arm_handshake_watchdog()

    async def stop(self) -> None:
        self._stand_down()
        if self.transport is not None:
            await self.disconnect(wait=2.0, reason="dotimely-chat stopping")
        self.live = False
        self._resolve_lost()

    def _spawn_event(self, xml: ET.Element) -> None:
        kind = xml.tag.rsplit("}", 1)[-1]
        if kind in _DISPATCHED and not (kind == "iq" and xml.get("id") in self.own_ping_ids):
            self.dispatcher.receive_from_node(self, xml)
        else:
            super()._spawn_event(xml)

    def _on_session_start(self, _event: object) -> None:
        self.live = True
        self.attachments += 1
        self.last_error = None
        self.lost = asyncio.get_running_loop().create_future()
        log.info("Component stream to ejabberd node %s (%s) attached (attachment %d)", self.node, self.host,
                 self.attachments)
        self._keep_up()
        self.dispatcher.node_changed(self)

    def _on_disconnected(self, reason: object) -> None:
        was_live, self.live = self.live, False
        self._stop_keepalive()
        self._resolve_lost()
        if self._stopping:
            return
        if was_live:
            log.warning("Lost the component stream to ejabberd node %s (%s); reconnecting", self.node,
                        reason or "connection closed")
            self.dispatcher.node_changed(self)
        self._reconnect_later()

    def _on_unreachable(self, _error: object) -> None:
        self.last_error = f"cannot reach ejabberd node {self.node} at {self.where}"

    def _on_handshake_missing(self, reason: str) -> None:
        self.last_error = f"{reason} (ejabberd node {self.node})"
        log.warning("%s; trying again", self.last_error)

    def _on_stream_error(self, error: Any) -> None:
        self.last_error = f"stream error {error['condition']} from ejabberd node {self.node}"
        log.error("ejabberd node %s closed the component stream: %s", self.node, self.last_error)

    def _resolve_lost(self) -> None:
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)

    def _on_ping_unanswered(self, timeout: float) -> None:
        self.last_error = f"no answer to a ping within {timeout:.0f} s"
        log.warning("ejabberd node %s did not answer a ping within %.0f s: dropping its stream", self.node, timeout)
        self.live = False
        self._resolve_lost()
        self.dispatcher.node_changed(self)
        self.abort()


class ClusterComponent(ChatComponent):
    """The component with one stream per node of `ejabberd.cluster` and one reply dispatch."""

    def __init__(self, config: Config) -> None:
        nodes = config.ejabberd.cluster
        hosts = [node.split("@", 1)[1] for node in nodes]
        home = dataclasses.replace(config, xmpp=dataclasses.replace(config.xmpp, server_host=hosts[0]))
        super().__init__(home)
        self.home_node = nodes[0]
        self.streams = [NodeStream(self, node, host) for node, host in zip(nodes[1:], hosts[1:], strict=True)]
        self._stream_of_node = {stream.node: stream for stream in self.streams}
        self._nodes = nodes
        self.received_per_node: dict[str, int] = {node: 0 for node in nodes}
        # the stream (and its attachment) the last failover resync went through
        self._served_through: tuple[NodeStream, int] | None = None
        self._failover_task: asyncio.Task[None] | None = None
        self._failover_handle: asyncio.TimerHandle | None = None
        self.add_event_handler("session_start", self._on_home_attached)
        self.add_event_handler("disconnected", self._on_home_lost)

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        super().start()
        for stream in self.streams:
            stream.start()

    async def stop(self) -> None:
        if self._failover_handle:
            self._failover_handle.cancel()
        if self._failover_task and not self._failover_task.done():
            self._failover_task.cancel()
        await asyncio.gather(*(stream.stop() for stream in self.streams))
        await super().stop()

    @property
    def home_live(self) -> bool:
        return self.state.connected and self._session_started

    def serving_stream(self) -> NodeStream | None:
        """The other stream that carries what we send while the home stream is down (None: none is up)."""
        return next((stream for stream in self.streams if stream.live), None)

    def nodes_state(self) -> dict[str, bool]:
        """node -> its stream is up (the home node's first)."""
        return {self.home_node: self.home_live, **{s.node: s.live for s in self.streams}}

    # ---------------------------------------------------------------------------------- one dispatch
    def receive_from_node(self, stream: NodeStream, xml: ET.Element) -> None:
        """A stanza from another node's stream: through our handlers, as if it came on the home stream."""
        self.received_per_node[stream.node] += 1
        self._spawn_event(xml)

    def room_stream(self, to: JID) -> NodeStream | None:
        """The other node's stream that carries a room's stanzas (None: the home stream carries them)."""
        if to.domain != self.config.muc.host or not to.user:
            return None
        stream = self._stream_of_node.get(room_node(to.bare, self._nodes))
        return stream if stream is not None and stream.live else None

    def send(self, data: Any, use_filters: bool = True) -> None:  # type: ignore[override]
        if not isinstance(data, RootStanza):
            stream = None
        elif self._session_started:
            stream = self.room_stream(data["to"])
        else:
            stream = self.room_stream(data["to"]) or self.serving_stream()
        if stream is None:
            super().send(data, use_filters)  # the home stream (or dropped there, as on one node)
            return
        if isinstance(data, StanzaBase):
            check_outgoing(data.xml, str(data["to"]) if "to" in data.interfaces else "?", data.name)
        stream.send(data, use_filters)

    # ------------------------------------------------------------------------------- link, for callers
    @property
    def link_up(self) -> bool:
        return self.state.connected or self.serving_stream() is not None

    def require_link(self, what: str) -> None:
        if self.serving_stream() is None:
            super().require_link(what)

    async def on_link(self, awaitable: Awaitable[T], what: str) -> T:
        stream = None if self.state.connected else self.serving_stream()
        if stream is None or stream.lost is None:
            return await super().on_link(awaitable, what)
        return await until_lost(awaitable, stream.lost,
                                f"{what}: the links to the ejabberd nodes were lost; try again shortly")

    # ---------------------------------------------------------------------------------- failover
    def node_changed(self, _stream: NodeStream) -> None:
        self._failover_soon()

    def _on_home_attached(self, _event: object) -> None:
        self._served_through = None  # ChatComponent resynchronises through the home stream itself
        log.info("Component stream to the home ejabberd node %s attached", self.home_node)

    def _on_home_lost(self, _event: object) -> None:
        self._failover_soon()

    def _failover_soon(self) -> None:
        """Look again in a moment: at start the other streams often attach before the home stream does."""
        if self._failover_handle:
            self._failover_handle.cancel()
        self._failover_handle = self.loop.call_later(FAILOVER_GRACE_SECONDS, self._consider_failover)

    def _consider_failover(self) -> None:
        """With the home stream down, resynchronise once through the stream that now serves (rooms that
        ran on the lost node restart on a live one when the component rejoins them)."""
        if self._stopping or self.home_live:
            return
        stream = self.serving_stream()
        if stream is None or (stream, stream.attachments) == self._served_through:
            return
        if self._failover_task and not self._failover_task.done():
            self._failover_task.cancel()
        self._served_through = (stream, stream.attachments)
        log.warning("The home ejabberd node %s is not reachable: serving through node %s", self.home_node,
                    stream.node)
        self._failover_task = asyncio.ensure_future(self._resync_through(stream))

    async def _resync_through(self, stream: NodeStream) -> None:
        for name, step in self._resync_steps:
            if not stream.live or self.home_live:
                return
            started = time.monotonic()
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Resynchronisation step %r through node %s failed", name, stream.node)
            else:
                log.info("Resynchronisation step %r through node %s done in %.0f ms", name, stream.node,
                         (time.monotonic() - started) * 1000)
