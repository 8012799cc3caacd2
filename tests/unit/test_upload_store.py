"""Streaming a PUT body to disk (services.uploads.file_store): exact size, hashed, atomic, never overwriting."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
from pathlib import Path

import pytest

from dotimely_chat.errors import UploadError
from dotimely_chat.services.uploads.file_store import BLOCK_SIZE, FileLayout, receive_file
from dotimely_chat.services.uploads.slot_tokens import new_file_id


class Body:
    """A request body in pieces; `fail_after` pieces raise a lost connection."""

    def __init__(self, data: bytes, piece: int = 65536, fail_after: int | None = None) -> None:
        self.pieces = [data[i:i + piece] for i in range(0, len(data), piece)]
        self.fail_after = fail_after

    async def readany(self) -> bytes:
        await asyncio.sleep(0)
        if self.fail_after is not None and self.fail_after <= 0:
            raise ConnectionResetError("client went away")
        if self.fail_after is not None:
            self.fail_after -= 1
        return self.pieces.pop(0) if self.pieces else b""


@pytest.fixture
def layout(tmp_path: Path) -> FileLayout:
    layout = FileLayout(tmp_path)
    layout.ensure()
    return layout


def leftovers(layout: FileLayout) -> list[Path]:
    return list(layout.partial_dir.iterdir())


@pytest.mark.parametrize("size", [1, 1000, BLOCK_SIZE - 1, BLOCK_SIZE, 3 * BLOCK_SIZE + 17])
async def test_a_complete_body_is_stored_with_its_sha256(layout: FileLayout, size: int) -> None:
    data = os.urandom(size)
    file_id, active = new_file_id(), set()
    digest = await receive_file(Body(data), size, file_id, layout, active)
    assert digest == hashlib.sha256(data).hexdigest()
    assert layout.final_path(file_id).read_bytes() == data
    assert leftovers(layout) == [] and active == set()


@pytest.mark.parametrize(("sent", "reason"), [(1001, "file_too_large"), (999, "size_mismatch"), (0, "size_mismatch")])
async def test_a_body_of_the_wrong_length_leaves_nothing(layout: FileLayout, sent: int, reason: str) -> None:
    file_id = new_file_id()
    with pytest.raises(UploadError) as caught:
        await receive_file(Body(os.urandom(sent)), 1000, file_id, layout, set())
    assert caught.value.reason == reason
    assert not layout.final_path(file_id).exists() and leftovers(layout) == []


async def test_a_longer_body_is_cut_off_as_soon_as_it_passes_the_size(layout: FileLayout) -> None:
    body = Body(os.urandom(10 * BLOCK_SIZE), piece=BLOCK_SIZE)
    with pytest.raises(UploadError):
        await receive_file(body, BLOCK_SIZE + 5, new_file_id(), layout, set())
    assert len(body.pieces) == 8, "reading stops at the piece that crosses the size"


async def test_an_interrupted_body_leaves_nothing(layout: FileLayout) -> None:
    file_id, active = new_file_id(), set()
    with pytest.raises(UploadError) as caught:
        await receive_file(Body(os.urandom(5 * BLOCK_SIZE), fail_after=40), 5 * BLOCK_SIZE, file_id, layout,
                           active)
    assert caught.value.reason == "interrupted"
    assert caught.value.details == {"received": 40 * 65536, "cause": "ConnectionResetError"}
    assert not layout.final_path(file_id).exists() and leftovers(layout) == [] and active == set()



async def test_a_broken_body_is_what_the_http_door_says_it_is(layout: FileLayout) -> None:
    """The HTTP door names what its body's reads raise when the framing breaks (aiohttp: HttpProcessingError);
    anything else is not taken for a client going away."""

    class BadFraming(Exception):
        pass

    class Broken(Body):
        async def readany(self) -> bytes:
            raise BadFraming("bad chunk size")

    file_id = new_file_id()
    with pytest.raises(UploadError) as caught:
        await receive_file(Broken(b""), 10, file_id, layout, set(), broken=(OSError, BadFraming))
    assert (caught.value.reason, caught.value.details) == ("interrupted", {"received": 0, "cause": "BadFraming"})
    with pytest.raises(BadFraming):
        await receive_file(Broken(b""), 10, file_id, layout, set())
    assert not layout.final_path(file_id).exists() and leftovers(layout) == []

@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
async def test_a_full_disk_is_a_storage_full_refusal_and_leaves_nothing(layout: FileLayout,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        code: int) -> None:
    real_write = os.write
    written = [0]

    def write(fd: int, data: bytes | memoryview) -> int:
        written[0] += len(data)
        if written[0] > 2 * BLOCK_SIZE:
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    file_id, active = new_file_id(), set()
    with pytest.raises(UploadError) as caught:
        await receive_file(Body(os.urandom(5 * BLOCK_SIZE)), 5 * BLOCK_SIZE, file_id, layout, active)
    assert (caught.value.reason, caught.value.kind.http_status, caught.value.kind.errcode) == \
        ("storage_full", 507, "storage_full")
    assert not layout.final_path(file_id).exists() and leftovers(layout) == [] and active == set()


async def test_a_cancelled_upload_leaves_nothing(layout: FileLayout) -> None:
    class Slow(Body):
        async def readany(self) -> bytes:
            await asyncio.sleep(0.01)
            return b"x" * 256 * 1024

    file_id = new_file_id()
    task = asyncio.create_task(receive_file(Slow(b""), 10**9, file_id, layout, set()))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if leftovers(layout):
            break
    assert len(leftovers(layout)) == 1, "the body is written under a temporary name while it arrives"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not layout.final_path(file_id).exists() and leftovers(layout) == []


async def test_an_existing_file_is_never_overwritten(layout: FileLayout) -> None:
    file_id = new_file_id()
    await receive_file(Body(b"first"), 5, file_id, layout, set())
    with pytest.raises(UploadError) as caught:
        await receive_file(Body(b"other"), 5, file_id, layout, set())
    assert caught.value.reason == "already_uploaded"
    assert layout.final_path(file_id).read_bytes() == b"first" and leftovers(layout) == []
