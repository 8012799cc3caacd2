"""`up` keeps its XMPP server running (Prosody, or the ejabberd node): a server that exits (crash, OOM killer,
kill -9) is started again with back-off, and the component reconnects by itself (component/link.py). After
MAX_QUICK_FAILURES failures in a row, each a server that would not start or died within QUICK_FAILURE_SECONDS
of listening, the supervisor gives up and `up` exits with the reason and the end of the server's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable

from .ejabberd_process import EjabberdError, EjabberdProcess
from .prosody_process import ProsodyError, ProsodyProcess

log = logging.getLogger(__name__)

MAX_QUICK_FAILURES = 5
QUICK_FAILURE_SECONDS = 30.0
FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 10.0


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"


class ServerSupervisor:
    """Watches one running server process; `on_give_up(message)` is called once when it stops trying."""

    def __init__(self, server: ProsodyProcess | EjabberdProcess, on_give_up: Callable[[str], None]) -> None:
        self.server, self.on_give_up = server, on_give_up
        self.name = "ejabberd" if isinstance(server, EjabberdProcess) else "Prosody"
        self.restarts = 0
        self.failure: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"{self.name.lower()}-supervisor")

    async def stop(self) -> None:
        """Stop watching (before stopping the server on purpose)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        failures = 0
        while True:
            process = self.server.process
            if process is None:
                return
            listening_since = time.monotonic()
            returncode = await process.wait()
            if self.server.process is not process:  # stopped on purpose
                return
            self.server.process = None
            ran = time.monotonic() - listening_since
            failures = failures + 1 if ran < QUICK_FAILURE_SECONDS else 1
            reason = f"{self.name} (pid {process.pid}) {exit_reason(returncode)} after {ran:.0f} s"
            while True:
                if failures >= MAX_QUICK_FAILURES:
                    self.failure = (f"{reason}; giving up after {failures} failures in a row (each within "
                                    f"{QUICK_FAILURE_SECONDS:.0f} s). {self.name}'s log "
                                    f"{self.server.paths.log_file} ends with:\n{self.server.log_tail(20)}")
                    log.error("%s; giving up after %d quick failures in a row: `up` stops", reason, failures)
                    self.on_give_up(self.failure)
                    return
                delay = min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** (failures - 1))
                log.warning("%s; restarting it in %.1f s (failure %d of at most %d in a row)", reason, delay,
                            failures, MAX_QUICK_FAILURES)
                await asyncio.sleep(delay)
                try:
                    await self.server.start()
                except (ProsodyError, EjabberdError) as exc:
                    failures += 1
                    reason = f"{self.name} could not be restarted: {str(exc).splitlines()[0]}"
                    continue
                self.restarts += 1
                assert self.server.process is not None
                log.warning("%s restarted (pid %d, restart %d); the component reconnects", self.name,
                            self.server.process.pid, self.restarts)
                break
