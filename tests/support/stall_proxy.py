"""A TCP proxy on loopback that can stop forwarding without closing anything: a silent network cut.

While stalled, bytes read from either side are kept (not forwarded), closes are not passed on, and new
connections are accepted by the kernel but not connected through — what a cable pulled between the
component and the server looks like from both ends. `resume()` lets everything through again, in order.

`resume(keep_stalled=True)` is the network coming back while the server's end of the old connection stays
open (its TCP has not given up yet, and nothing of ours reaches it): the connections made before the stall
stay stalled, new ones flow; `drop_stalled()` then closes those (their held bytes are never delivered).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


class StallProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.accepted = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        # Per connection through: its gate (set while it may flow) and both its ends.
        self._through: dict[int, tuple[asyncio.Event, asyncio.StreamWriter, asyncio.StreamWriter]] = {}

    async def start(self) -> StallProxy:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._accept, sock=sock)
        return self

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self, keep_stalled: bool = False) -> None:
        if keep_stalled:
            for gate, _, _ in self._through.values():
                gate.clear()  # for good: these connections stay stalled until drop_stalled()
        self._flowing.set()

    def drop_stalled(self) -> None:
        """Close the connections kept stalled by `resume(keep_stalled=True)` on both sides."""
        for connection, (gate, down, up) in list(self._through.items()):
            if not gate.is_set():
                del self._through[connection]
                down.transport.abort()
                up.transport.abort()

    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def _spawn(self, coroutine: object) -> None:
        task = asyncio.ensure_future(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        connection = self.accepted
        self._writers.add(writer)
        await self._flowing.wait()  # a connection made during the cut gets nowhere until it ends
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        gate = asyncio.Event()
        gate.set()
        self._through[connection] = (gate, writer, up_writer)
        self._spawn(self._pump(reader, up_writer, gate))
        self._spawn(self._pump(up_reader, writer, gate))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gate: asyncio.Event) -> None:
        try:
            while True:
                try:
                    data = await reader.read(65536)
                except (ConnectionError, OSError):
                    data = b""
                await self._flowing.wait()
                await gate.wait()
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
            self._writers.discard(writer)
