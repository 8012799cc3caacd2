"""File bodies for GET/HEAD: small files read in one go on the event loop, large ones through aiohttp's
FileResponse (Range, conditional requests, sendfile(2) on plain HTTP) with a read-ahead body over TLS.

Thread hops dominate the cost of a small download (FileResponse opens, stats, reads and closes in the
executor): a picture of 100 KiB is read from the page cache in microseconds.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.web_request import BaseRequest

SMALL_FILE = 1024 * 1024
READ_AHEAD = 1024 * 1024
SEND_CHUNK = 256 * 1024


def file_response(request: web.Request, path: Path, size: int, headers: Mapping[str, str]
                  ) -> web.StreamResponse:
    if size > SMALL_FILE:
        return UploadFileResponse(path, chunk_size=SEND_CHUNK, headers=headers)
    try:
        with open(path, "rb") as handle:
            data = handle.read(SMALL_FILE + 1)
    except FileNotFoundError:
        raise web.HTTPNotFound() from None
    return small_response(request, data, headers)


def small_response(request: web.Request, data: bytes, headers: Mapping[str, str]) -> web.Response:
    """200 with the body, or 206/416 for a Range (one range, as FileResponse serves)."""
    size = len(data)
    out = {**headers, hdrs.ACCEPT_RANGES: "bytes"}
    if hdrs.RANGE not in request.headers:
        return web.Response(body=data, headers=out)
    try:
        wanted = request.http_range
    except ValueError:
        return web.Response(status=416, headers={**out, hdrs.CONTENT_RANGE: f"bytes */{size}"})
    start, stop = wanted.start, wanted.stop
    if start is None and stop is None:
        return web.Response(body=data, headers=out)
    if start is not None and start < 0:  # a suffix: the last -start bytes
        start, stop = max(0, size + start), size
    start = start or 0
    stop = size if stop is None else min(stop, size)
    if start >= size or start >= stop:
        return web.Response(status=416, headers={**out, hdrs.CONTENT_RANGE: f"bytes */{size}"})
    out[hdrs.CONTENT_RANGE] = f"bytes {start}-{stop - 1}/{size}"
    return web.Response(status=206, body=data[start:stop], headers=out)


class UploadFileResponse(web.FileResponse):
    """aiohttp 3.14 sends a FileResponse over TLS through asyncio's sendfile fallback, one 256 KiB read,
    write and drain at a time (≈170 MB/s here); reading 1 MiB blocks ahead while writing ran ≈1.3 GB/s."""

    async def _sendfile(self, request: BaseRequest, fobj: IO[Any], offset: int, count: int
                        ) -> AbstractStreamWriter:
        transport = request.transport
        if transport is None or transport.get_extra_info("sslcontext") is None:
            return await super()._sendfile(request, fobj, offset, count)  # sendfile(2)
        writer = await web.StreamResponse.prepare(self, request)
        assert writer is not None
        loop = asyncio.get_running_loop()

        def read(size: int) -> bytes:
            return os.read(fobj.fileno(), size)

        fobj.seek(offset)
        ahead = loop.run_in_executor(None, read, min(READ_AHEAD, count))
        while count > 0:
            block = await ahead
            if not block:
                break
            count -= len(block)
            if count > 0:
                ahead = loop.run_in_executor(None, read, min(READ_AHEAD, count))
            await writer.write(block)
        await writer.drain()
        return writer
