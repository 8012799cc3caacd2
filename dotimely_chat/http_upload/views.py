"""The upload host's views: PUT (streamed to disk), GET/HEAD (with Range), OPTIONS (CORS preflight).

One catch-all route: the raw path is decoded once, normalised and routed here (slots.parse_path), so no
path from a request reaches the file system; only a 160-bit hex id found in the database does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import quote

from aiohttp import hdrs, web

from ..policies.uploads import disposition, safe_filename
from ..services.uploads import UploadService
from .errors import UPLOAD_ERRORS, UploadError
from .responses import file_response
from .slots import BadPath, bearer_token, parse_path
from .store import receive_file

log = logging.getLogger(__name__)

UPLOADS: web.AppKey[UploadService] = web.AppKey("uploads", UploadService)
ALLOWED_METHODS = "GET, HEAD, PUT, OPTIONS"
SECURITY_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
}
EXPOSED_HEADERS = "Content-Length, Content-Range, Content-Disposition, Accept-Ranges"
PREFLIGHT_HEADERS: Mapping[str, str] = {
    "Access-Control-Allow-Methods": ALLOWED_METHODS,
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "86400",
}


def cors_headers(origin: str | None, allowed: frozenset[str]) -> dict[str, str]:
    """CORS for the configured origins only (upload.cors_origins; by default the web page's). Browser
    clients (Converse.js) PUT with Authorization + Content-Type and no credentials; a request from another
    origin gets no Access-Control-Allow-Origin, so its browser keeps the answer from the page."""
    if "*" in allowed:
        return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED_HEADERS}
    if origin is not None and origin in allowed:
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSED_HEADERS,
                hdrs.VARY: "Origin"}
    return {hdrs.VARY: "Origin"}  # the answer depends on Origin: caches must not reuse it for another


def error_response(status: int, errcode: str, message: str, **extra: object) -> web.Response:
    response = web.json_response({"errcode": errcode, "error": message, **extra}, status=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def upload_error_response(exc: UploadError) -> web.Response:
    kind = UPLOAD_ERRORS[exc.reason]
    extra = {"max_file_size": exc.max_size} if exc.max_size is not None else {}
    return error_response(kind.http_status, kind.errcode, exc.message, **extra)


def content_disposition(content_type: str, filename: str) -> str:
    """The name to save under; sanitised again, for names stored before a rule was added (e.g. "CON.txt")."""
    filename = safe_filename(filename)
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in filename)
    return f"{disposition(content_type)}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def dispatch(request: web.Request) -> web.StreamResponse:
    try:
        parsed = parse_path(request.raw_path)
    except BadPath as exc:
        return error_response(400, "bad_path", str(exc))
    if parsed.route == "health":
        return web.json_response({"status": "ok", "service": "upload"})
    if parsed.route != "upload":
        return error_response(404, "not_found", "no such file")
    uploads = request.app[UPLOADS]
    response = await _upload_route(request, uploads, parsed.file_id, parsed.filename)
    # Not yet prepared (a file body is sent after the handler returns): the headers can still change.
    response.headers.update(cors_headers(request.headers.get(hdrs.ORIGIN), uploads.settings.cors_origins))
    return response


async def _upload_route(request: web.Request, uploads: UploadService, file_id: str, filename: str
                        ) -> web.StreamResponse:
    if request.method == hdrs.METH_OPTIONS:
        return web.Response(status=204, headers=PREFLIGHT_HEADERS)
    try:
        if request.method == hdrs.METH_PUT:
            return await put_file(request, uploads, file_id, filename)
        if request.method in (hdrs.METH_GET, hdrs.METH_HEAD):
            return await get_file(request, uploads, file_id, filename)
    except UploadError as exc:
        if request.method == hdrs.METH_PUT:
            uploads.metrics.upload_refused("put", exc.reason)
        return upload_error_response(exc)
    response = error_response(405, "method_not_allowed", f"use {ALLOWED_METHODS}")
    response.headers["Allow"] = ALLOWED_METHODS
    return response


async def put_file(request: web.Request, uploads: UploadService, file_id: str, filename: str
                   ) -> web.StreamResponse:
    slot = await uploads.claim(file_id, filename, bearer_token(request.headers.get(hdrs.AUTHORIZATION)),
                                request.content_length, request.headers.get(hdrs.CONTENT_TYPE))
    try:
        if request.headers.get(hdrs.EXPECT, "").lower() == "100-continue":
            # Only now that the slot is checked: a refused client never sends its body.
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0
        sha256 = await receive_file(request.content, slot.size, file_id, uploads.layout,
                                    uploads.active_partials)
        await uploads.complete(slot, sha256)
    except UploadError as exc:
        # One line each, no traceback: a client must not be able to flood the log with its own failures.
        if exc.reason == "interrupted":
            log.warning("PUT of %s… by %s (business %d) broke off after %d of %d bytes (%s); nothing kept, the "
                        "slot can be used again until it expires", file_id[:6], slot.jid, slot.business_id,
                        exc.details.get("received", 0), slot.size, exc.details.get("cause"))
        elif exc.reason == "storage_full":
            log.warning("PUT of %s… by %s (business %d), %d bytes, refused: the upload directory is full (%s)",
                        file_id[:6], slot.jid, slot.business_id, slot.size, exc.details.get("cause"))
        else:
            log.info("PUT of %s… by %s (business %d) refused: %s", file_id[:6], slot.jid, slot.business_id,
                     exc.reason)
        uploads.metrics.upload_refused("put", exc.reason)
        response = upload_error_response(exc)
        response.force_close()  # the rest of a refused body is not read
        return response
    except Exception as exc:
        log.warning("PUT of %s… by %s (business %d) interrupted: %s", file_id[:6], slot.jid, slot.business_id,
                    type(exc).__name__)
        raise
    finally:
        uploads.release(slot)
    return web.Response(status=201, headers=SECURITY_HEADERS)

async def get_file(request: web.Request, uploads: UploadService, file_id: str, filename: str
                   ) -> web.StreamResponse:
    served = await uploads.find_file(file_id, filename)
    if served is None:
        raise UploadError("not_found", "no such file")
    headers = {
        **SECURITY_HEADERS,
        hdrs.CONTENT_TYPE: served.content_type,
        hdrs.CONTENT_DISPOSITION: content_disposition(served.content_type, served.filename),
        hdrs.CACHE_CONTROL: "private, max-age=31536000, immutable",  # a file never changes
    }
    return file_response(request, served.path, served.size, headers)

