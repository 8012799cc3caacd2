"""What running an XMPP server as our child takes, whichever server it is: ports that must be free before and
listening after the start, a child that dies with us and is not hit by a terminal's Ctrl-C, a stop that
escalates from SIGTERM to SIGKILL, the end of a log file."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
Address = tuple[str, int]


def die_with_parent() -> None:
    """In the child between fork and exec (after any change of user: a change of credentials clears it): the
    child gets SIGTERM when we die."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def own_process_group() -> None:
    """In the child between fork and exec: Ctrl-C in a terminal reaches us, not the server directly, so we stop
    it in order."""
    os.setpgrp()


async def port_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 0.5)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def busy_ports(addresses: Sequence[Address]) -> list[str]:
    """The addresses something already listens on, as host:port."""
    return [f"{host}:{port}" for host, port in addresses if await port_open(host, port)]


async def wait_listening(process: asyncio.subprocess.Process, addresses: Sequence[Address], timeout: float,
                         exited: Callable[[int], Exception], late: Callable[[list[Address]], Exception],
                         poll: float = 0.05) -> None:
    """Until the child listens on every address; raises exited(code) if it ends first, late(pending) after
    `timeout` seconds (the caller stops it)."""
    deadline = time.monotonic() + timeout
    pending = list(addresses)
    while pending:
        if process.returncode is not None:
            raise exited(process.returncode)
        if time.monotonic() > deadline:
            raise late(pending)
        pending = [(host, port) for host, port in pending if not await port_open(host, port)]
        if pending:
            await asyncio.sleep(poll)


async def stop_child(process: asyncio.subprocess.Process | None, timeout: float, name: str) -> bool:
    """SIGTERM, then SIGKILL after `timeout` seconds. False when there was nothing running to stop."""
    if process is None or process.returncode is not None:
        return False
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        log.warning("%s did not stop within %.0f s; killing it", name, timeout)
        process.kill()
        await process.wait()
    log.info("%s stopped", name)
    return True


def terminate_pid(pid: int, grace: float = 10.0) -> None:
    """Stop a process that is not our child (one left by an earlier run): SIGTERM, SIGKILL after `grace` s."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def tail(path: Path, lines: int) -> str | None:
    """The last `lines` lines of a text file; None when it cannot be read."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return None
