"""Streaming a PUT body to disk: a temporary file under partial/, hashed while written, synced, then
linked into place — never over an existing file — so a file is servable only when complete.

Blocks of about 1 MiB are written and hashed in a worker thread while the next block is read (both release
the GIL), with one block in flight: memory stays flat whatever the file size.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any, Protocol

from .errors import UploadError
from .slots import FileLayout

BLOCK_SIZE = 1 << 20


class BodyStream(Protocol):
    async def readany(self) -> bytes: ...


def _write_block(fd: int, hasher: Any, block: bytearray) -> None:
    hasher.update(block)
    view = memoryview(block)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _finish(fd: int, partial: Path, final: Path) -> None:
    """fsync, then hard-link into place (fails if the final name exists: never overwrite)."""
    try:
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.link(partial, final)
    except FileExistsError:
        raise UploadError("already_uploaded", "this file exists; a slot is used once") from None
    finally:
        partial.unlink(missing_ok=True)


async def receive_file(body: BodyStream, size: int, file_id: str, layout: FileLayout,
                       active: set[Path]) -> str:
    """Store exactly `size` bytes from `body` as `file_id`; returns the SHA-256 (hex).

    Raises UploadError for a body longer or shorter than `size`; on any failure nothing is left behind.
    """
    loop = asyncio.get_running_loop()
    partial = layout.partial_path(file_id)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    active.add(partial)
    hasher = hashlib.sha256()
    received = 0
    in_flight: asyncio.Future[None] | None = None
    block = bytearray()
    closed = False
    try:
        while True:
            data = await body.readany()
            if not data:
                break
            received += len(data)
            if received > size:
                raise UploadError("file_too_large", f"the body is longer than the slot's {size} bytes", size)
            block += data
            if len(block) >= BLOCK_SIZE:
                if in_flight is not None:
                    await in_flight
                in_flight, block = loop.run_in_executor(None, _write_block, fd, hasher, block), bytearray()
        if in_flight is not None:
            await in_flight
            in_flight = None
        if block:
            await loop.run_in_executor(None, _write_block, fd, hasher, block)
        if received != size:
            raise UploadError("size_mismatch", f"received {received} of the slot's {size} bytes")
        closed = True
        await loop.run_in_executor(None, _finish, fd, partial, layout.final_path(file_id))
        return hasher.hexdigest()
    finally:
        if in_flight is not None:
            await asyncio.gather(in_flight, return_exceptions=True)
        if not closed:
            os.close(fd)
            partial.unlink(missing_ok=True)
        active.discard(partial)
