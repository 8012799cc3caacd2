"""File bodies for GET/HEAD: small files read in one go on the event loop, large ones through aiohttp's
FileResponse (conditional requests, sendfile(2) on plain HTTP) with a read-ahead body over TLS; the Range
header of both decided by ranges.parse_range (several ranges: multipart/byteranges).

Thread hops dominate the cost of a small download (FileResponse opens, stats, reads and closes in the
executor): a picture of 100 KiB is read from the page cache in microseconds.
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.helpers import must_be_empty_body
from aiohttp.web_request import BaseRequest

from .ranges import content_range, parse_range, part_heads

SMALL_FILE = 1024 * 1024
READ_AHEAD = 1024 * 1024
SEND_CHUNK = 256 * 1024
FALLBACK_TYPE = "application/octet-stream"


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
    """200 with the body, or 206 (one part, or multipart/byteranges) / 416 by ranges.parse_range."""
    size = len(data)
    out = {**headers, hdrs.ACCEPT_RANGES: "bytes"}
    # No validator is sent for a small file, so an If-Range can never match: the whole file (RFC 9110 §13.1.5).
    header = None if hdrs.IF_RANGE in request.headers else request.headers.get(hdrs.RANGE)
    answer = parse_range(header, size)
    if answer.kind == "full":
        return web.Response(body=data, headers=out)
    if answer.kind == "unsatisfiable":
        return web.Response(status=416, headers={**out, hdrs.CONTENT_RANGE: f"bytes */{size}"})
    if not answer.multipart:
        start, stop = answer.parts[0]
        out[hdrs.CONTENT_RANGE] = content_range(start, stop, size)
        return web.Response(status=206, body=data[start:stop], headers=out)
    boundary = secrets.token_hex(16)
    heads, tail = part_heads(answer.parts, size, out.get(hdrs.CONTENT_TYPE, FALLBACK_TYPE), boundary)
    body = b"".join(head + data[start:stop] for head, (start, stop) in zip(heads, answer.parts, strict=True))
    out[hdrs.CONTENT_TYPE] = f"multipart/byteranges; boundary={boundary}"
    return web.Response(status=206, body=body + tail, headers=out)


class UploadFileResponse(web.FileResponse):
    """A large file: aiohttp's FileResponse (conditional requests, sendfile(2) on plain HTTP) with the Range
    header decided by ranges.parse_range (aiohttp 3.14 serves one range only and answers 206 with the whole
    file to `bytes=-0`), and a read-ahead body over TLS.

    aiohttp 3.14 sends a FileResponse over TLS through asyncio's sendfile fallback, one 256 KiB read,
    write and drain at a time (≈170 MB/s here); reading 1 MiB blocks ahead while writing ran ≈1.3 GB/s."""

    async def _prepare_open_file(self, request: BaseRequest, fobj: io.BufferedReader, st: os.stat_result,
                                 file_encoding: str | None) -> AbstractStreamWriter | None:
        # Replaces aiohttp 3.14's FileResponse._prepare_open_file (pinned <3.15); upload files are stored
        # uncompressed, so file_encoding is always None.
        size = st.st_size
        etag = f"{st.st_mtime_ns:x}-{st.st_size:x}"
        self.etag, self.last_modified = etag, st.st_mtime
        self._headers[hdrs.ACCEPT_RANGES] = "bytes"
        header = request.headers.get(hdrs.RANGE) if _if_range_holds(request, etag, st.st_mtime) else None
        answer = parse_range(header, size)
        if answer.kind == "unsatisfiable":
            self._headers[hdrs.CONTENT_RANGE] = f"bytes */{size}"
            self.set_status(416)
            self.content_length = 0
            return await web.StreamResponse.prepare(self, request)
        if answer.kind == "full":
            offset, count = 0, size
        elif not answer.multipart:
            (offset, stop), = answer.parts
            count = stop - offset
            self.set_status(206)
            self._headers[hdrs.CONTENT_RANGE] = content_range(offset, stop, size)
        else:
            return await self._send_parts(request, fobj, answer.parts, size)
        self.content_length = count
        if count == 0 or must_be_empty_body(request.method, self.status):
            return await web.StreamResponse.prepare(self, request)
        return await self._sendfile(request, fobj, offset, count)

    async def _send_parts(self, request: BaseRequest, fobj: io.BufferedReader,
                          parts: tuple[tuple[int, int], ...], size: int) -> AbstractStreamWriter | None:
        boundary = secrets.token_hex(16)
        heads, tail = part_heads(parts, size, self._headers.get(hdrs.CONTENT_TYPE, FALLBACK_TYPE), boundary)
        self.set_status(206)
        self._headers[hdrs.CONTENT_TYPE] = f"multipart/byteranges; boundary={boundary}"
        self.content_length = sum(len(h) for h in heads) + sum(b - a for a, b in parts) + len(tail)
        writer = await web.StreamResponse.prepare(self, request)
        if writer is None or must_be_empty_body(request.method, self.status):
            return writer
        for head, (start, stop) in zip(heads, parts, strict=True):
            await writer.write(head)
            await _copy(writer, fobj, start, stop - start)
        await writer.write(tail)
        return writer

    async def _sendfile(self, request: BaseRequest, fobj: IO[Any], offset: int, count: int
                        ) -> AbstractStreamWriter:
        transport = request.transport
        if transport is None or transport.get_extra_info("sslcontext") is None:
            return await super()._sendfile(request, fobj, offset, count)  # sendfile(2)
        writer = await web.StreamResponse.prepare(self, request)
        assert writer is not None
        await _copy(writer, fobj, offset, count)
        return writer


async def _copy(writer: AbstractStreamWriter, fobj: IO[Any], offset: int, count: int) -> None:
    """`count` bytes of the file from `offset`, the next block read in a worker while one is written."""
    loop = asyncio.get_running_loop()

    def read(size: int) -> bytes:
        return os.pread(fobj.fileno(), size, offset_now[0])

    offset_now = [offset]
    ahead = loop.run_in_executor(None, read, min(READ_AHEAD, count))
    try:
        while count > 0:
            block = await ahead
            if not block:
                break
            count -= len(block)
            offset_now[0] += len(block)
            if count > 0:
                ahead = loop.run_in_executor(None, read, min(READ_AHEAD, count))
            await writer.write(block)
        await writer.drain()
    finally:
        # A client that went away makes write() raise with a read still in flight: wait for it before the
        # file is closed, or it fails on the closed descriptor and asyncio logs an ERROR with a traceback.
        await asyncio.gather(ahead, return_exceptions=True)


def _if_range_holds(request: BaseRequest, etag: str, mtime: float) -> bool:
    """RFC 9110 §13.1.5: the Range applies when If-Range is absent or names this file's validator (a strong
    entity tag, or a date not before its modification). aiohttp 3.14 takes any entity tag as a match."""
    value = request.headers.get(hdrs.IF_RANGE)
    if value is None:
        return True
    value = value.strip()
    if value.startswith('"'):
        return value == f'"{etag}"'
    if value.startswith("W/"):
        return False  # a weak tag never matches for ranges
    date = request.if_range
    return date is not None and mtime <= date.timestamp()
