"""Housekeeping (unused slots expire, partial and orphan files go, retention deletes files) and flat memory."""

from __future__ import annotations

import pytest
import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path

from dotimely_chat.services.uploads.housekeeping import UploadHousekeeping, run_housekeeping
from dotimely_chat.services.uploads.slot_tokens import new_file_id
from dotimely_chat.storage import UploadRepository, utcnow

from ..support.uploads import UploadEnv

pytestmark = pytest.mark.servers("prosody", "ejabberd")


async def status(env: UploadEnv, url: str) -> int:
    async with env.http.get(url, ssl=env.ssl) as response:
        return response.status


async def test_an_unused_slot_expires_and_is_forgotten(upload_env: UploadEnv) -> None:
    env = upload_env
    url, token = await env.slot(env.customer, "late.png", 10, "image/png")
    file_id = url.split("/")[-2]
    report = await run_housekeeping(env.uploads)
    async with env.service.database.session() as session:
        assert await UploadRepository(session).get_slot(file_id) is not None, "not expired yet"
    report = await run_housekeeping(env.uploads, now=utcnow() + env.uploads.settings.slot_lifetime
                                            + dt.timedelta(seconds=1))
    assert report.slots_expired >= 1
    async with env.service.database.session() as session:
        assert await UploadRepository(session).get_slot(file_id) is None
    assert (await env.put(url, token, b"x" * 10, "image/png"))[0] == 403


async def test_files_are_deleted_when_the_archive_retention_says_so(upload_env: UploadEnv) -> None:
    env = upload_env
    env.limit(retention=dt.timedelta(days=7))
    url = await env.upload(env.owner, "old.pdf", b"%PDF old", "application/pdf")
    file_id = url.split("/")[-2]
    path = env.uploads.layout.final_path(file_id)
    assert path.exists()
    report = await run_housekeeping(env.uploads, now=utcnow() + dt.timedelta(days=6))
    assert report.files_retired == 0 and await status(env, url) == 200
    report = await run_housekeeping(env.uploads, now=utcnow() + dt.timedelta(days=8))
    assert report.files_retired >= 1
    assert not path.exists() and await status(env, url) == 404
    async with env.service.database.session() as session:
        assert await UploadRepository(session).get_file(file_id) is None


async def test_retention_never_keeps_files(upload_env: UploadEnv) -> None:
    env = upload_env
    env.limit(retention=None)
    url = await env.upload(env.owner, "keep.pdf", b"%PDF keep", "application/pdf")
    report = await run_housekeeping(env.uploads, now=utcnow() + dt.timedelta(days=3650))
    assert report.files_retired == 0 and await status(env, url) == 200


async def test_partial_and_orphan_files_are_removed_but_live_ones_stay(upload_env: UploadEnv) -> None:
    env = upload_env
    layout = env.uploads.layout
    url = await env.upload(env.owner, "live.png", b"live", "image/png")
    stale = layout.partial_path(new_file_id())
    stale.write_bytes(b"half")
    writing = layout.partial_path(new_file_id())
    writing.write_bytes(b"being written")
    env.uploads.active_partials.add(writing)
    orphan = layout.final_path(new_file_id())
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"no record")
    young_orphan = layout.final_path(new_file_id())
    young_orphan.parent.mkdir(parents=True, exist_ok=True)
    young_orphan.write_bytes(b"its record may be committing")
    old = utcnow().timestamp() - 7200
    os.utime(orphan, (old, old))
    os.utime(layout.final_path(url.split("/")[-2]), (old, old))
    try:
        report = await run_housekeeping(env.uploads)
    finally:
        env.uploads.active_partials.discard(writing)
    assert (report.partials_removed, report.orphans_removed) == (1, 1)
    assert not stale.exists() and writing.exists() and not orphan.exists() and young_orphan.exists()
    assert await status(env, url) == 200
    writing.unlink()
    young_orphan.unlink()


async def test_the_periodic_task_runs_and_stops(upload_env: UploadEnv) -> None:
    env = upload_env
    stale = env.uploads.layout.partial_path(new_file_id())
    stale.write_bytes(b"left by a crash")
    housekeeping = UploadHousekeeping(env.uploads, interval=0.05)
    housekeeping.start()
    try:
        for _ in range(100):
            if not stale.exists():
                break
            await asyncio.sleep(0.02)
        assert not stale.exists()
    finally:
        await housekeeping.stop()
    assert housekeeping._task is None


def peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


async def test_memory_stays_flat_while_a_large_file_streams_in_and_out(upload_env: UploadEnv) -> None:
    env = upload_env
    size = 384 * 1024**2
    env.limit(max_size={**env.uploads.settings.limits.max_size, "video": size}, max_file_size=size,
              daily_quota=2 * size)
    url, token = await env.slot(env.staff, "long.mp4", size, "video/mp4")
    block = os.urandom(1024**2)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // len(block)):
            yield block

    Path("/proc/self/clear_refs").write_text("5")  # reset the peak
    before = peak_rss()
    status_code, answer = await env.put(url, token, body(), "video/mp4", {"Content-Length": str(size)})
    assert status_code == 201, answer
    received = 0
    async with env.http.get(url, ssl=env.ssl) as response:
        async for chunk in response.content.iter_chunked(1024**2):
            received += len(chunk)
    assert received == size
    growth = peak_rss() - before
    assert growth < 64 * 1024**2, f"peak memory grew by {growth / 1024**2:.0f} MiB for a {size // 1024**2} MiB file"
    env.uploads.layout.final_path(url.split("/")[-2]).unlink()
