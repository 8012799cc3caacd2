"""Bounded waits on a condition (never a bare sleep for something that must happen)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float) -> float:
    """Seconds it took for `check` to hold; fails after `timeout`."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout, "condition not met in time"
        await asyncio.sleep(0.05)
    return time.monotonic() - started
