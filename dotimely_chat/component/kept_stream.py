"""What every component stream of ours does to stay up, to Prosody or to any node of an ejabberd cluster.

- No Nagle delay: stanzas are small and often answered by another small one; without TCP_NODELAY a write
  waits for the server's delayed ACK (about 40 ms on Linux).
- Reconnection with a short backoff (0.5 s doubling up to `MAX_BACKOFF_SECONDS`): slixmpp's own grows to 300 s,
  and an operator restarting the server expects seconds.
- A handshake watchdog: a TCP connection that opens but never completes the XEP-0114 handshake (a silent
  network cut seen from the next attempt), or an attempt that hangs, is started over after `handshake_timeout`.
- Keepalive pings (XEP-0199) to the server's domain every `component.ping_interval` seconds; no answer within
  `component.ping_timeout` seconds is a lost stream (a cut without FIN or RST leaves TCP quiet for minutes).

Subclasses say what the stream's state is (`stream_up`, `handshakes`) and what a lost, late or unreachable
stream means to them (the `_on_*` hooks).
"""

from __future__ import annotations

import asyncio
import socket
from abc import ABC, abstractmethod
import time
import xml.etree.ElementTree as ET

from slixmpp import ComponentXMPP
from slixmpp.exceptions import IqError, IqTimeout

from ..config import Config

MAX_BACKOFF_SECONDS = 5.0
HANDSHAKE_TIMEOUT_SECONDS = 10.0


class KeptStream(ComponentXMPP, ABC):
    def __init__(self, config: Config, host: str) -> None:
        c = config.component
        super().__init__(c.jid, c.secret, host, c.port)
        self.config = config
        self.handshake_timeout = HANDSHAKE_TIMEOUT_SECONDS
        self.own_ping_ids: set[str] = set()  # our keepalive pings in flight
        self._stopping = False
        self._backoff = 0.5
        self._reconnect_handle: asyncio.TimerHandle | None = None
        self._handshake_handle: asyncio.TimerHandle | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        self._attempt_failed_at = 0.0
        self.add_event_handler("connected", lambda _: self._arm_handshake_watchdog())
        self.add_event_handler("connection_failed", self._attempt_failed)

    # ----------------------------------------------------------------------------- what subclasses say
    @property
    @abstractmethod
    def stream_up(self) -> bool: ...

    @property
    @abstractmethod
    def handshakes(self) -> int:
        """Handshakes completed so far: a keepalive loop serves one of them."""

    @property
    def where(self) -> str:
        return f"{self.server_host}:{self.server_port}"

    @abstractmethod
    def _on_ping_unanswered(self, timeout: float) -> None:
        """The stream is silent: note it, then call `abort()` (which ends in 'disconnected')."""

    def _on_ping_answered(self, rtt: float) -> None:
        """A keepalive ping came back after `rtt` seconds."""

    def _on_handshake_missing(self, reason: str) -> None:
        """No handshake in time (`reason`): the attempt is started over."""

    def _on_unreachable(self, error: object) -> None:
        """A connection attempt failed."""

    # --------------------------------------------------------------------------------------- the socket
    def connection_made(self, transport: asyncio.BaseTransport, send_event: bool = True) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport, send_event)

    def reschedule_connection_attempt(self) -> asyncio.Future | None:  # type: ignore[override]
        if self._current_connection_attempt is None or self._stopping:
            return None
        self._connect_loop_wait = min(MAX_BACKOFF_SECONDS, self._connect_loop_wait * 2 + 0.5)
        self._current_connection_attempt = asyncio.ensure_future(self._connect_loop(), loop=self.loop)
        return self._current_connection_attempt

    # --------------------------------------------------------------------------------- up, down, again
    def _keep_up(self) -> None:
        """After a handshake: the watchdog is done, the backoff starts again small, pings start."""
        if self._handshake_handle:
            self._handshake_handle.cancel()
            self._handshake_handle = None
        self._backoff = 0.5
        self._stop_keepalive()
        self._keepalive_task = asyncio.ensure_future(self._keepalive(self.handshakes))

    def _reconnect_later(self) -> None:
        delay, self._backoff = self._backoff, min(MAX_BACKOFF_SECONDS, self._backoff * 2)
        if self._reconnect_handle:
            self._reconnect_handle.cancel()
        self._reconnect_handle = self.loop.call_later(delay, self._reconnect)

    def _reconnect(self) -> None:
        if not self._stopping and self.transport is None:
            self.connect()
            self._arm_handshake_watchdog()

    def _stand_down(self) -> None:
        """Before a stop on purpose: no reconnection, no watchdog, no pings, no attempt in progress."""
        self._stopping = True
        for handle in (self._reconnect_handle, self._handshake_handle):
            if handle:
                handle.cancel()
        self._stop_keepalive()
        self.cancel_connection_attempt()

    # ------------------------------------------------------------------------------ handshake watchdog
    def _attempt_failed(self, error: object) -> None:
        self._attempt_failed_at = time.monotonic()
        self._on_unreachable(error)

    def _arm_handshake_watchdog(self) -> None:
        if self._handshake_handle:
            self._handshake_handle.cancel()
        self._handshake_handle = self.loop.call_later(self.handshake_timeout, self._handshake_overdue)

    def _handshake_overdue(self) -> None:
        """The TCP connection (or the attempt to make it) hangs without a handshake: start over."""
        self._handshake_handle = None
        if self._stopping or self.stream_up:
            return
        if self.transport is None and time.monotonic() - self._attempt_failed_at < self.handshake_timeout:
            self._arm_handshake_watchdog()  # attempts fail quickly (the server is down): slixmpp tries again
            return
        self._on_handshake_missing(f"no XEP-0114 handshake with {self.where} within {self.handshake_timeout:.0f} s")
        if self.transport is not None:
            self.abort()  # -> 'disconnected' -> a new attempt
        else:  # the TCP connection itself hangs (SYN unanswered)
            self.cancel_connection_attempt()
            self._reconnect()

    # -------------------------------------------------------------------------------------- keepalive
    async def _keepalive(self, handshake: int) -> None:
        interval, timeout = self.config.component.ping_interval, self.config.component.ping_timeout
        while not self._stopping:
            await asyncio.sleep(interval)
            if handshake != self.handshakes or not self.stream_up:
                return
            iq = self.make_iq_get(ito=self.config.xmpp.domain, ifrom=self.boundjid.bare)
            iq.append(ET.Element("{urn:xmpp:ping}ping"))
            self.own_ping_ids.add(iq["id"])
            started = time.monotonic()
            try:
                await iq.send(timeout=timeout)
            except IqError:
                pass  # an error is an answer too: the stream carries stanzas
            except IqTimeout:
                if handshake == self.handshakes and self.stream_up:
                    self._on_ping_unanswered(timeout)
                return
            finally:
                self.own_ping_ids.discard(iq["id"])
            self._on_ping_answered(time.monotonic() - started)

    def _stop_keepalive(self) -> None:
        task, self._keepalive_task = self._keepalive_task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
