"""The upload host's views: PUT (streamed to disk), GET/HEAD (with Range), OPTIONS (CORS preflight); each
calls one method of the upload service and answers.

One catch-all route: the raw path is decoded once, normalised and routed here (paths.parse_path), so no
path from a request reaches the file system; only a 160-bit hex id found in the database does.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from ..errors import UploadError
from ..policies.uploads import disposition, safe_filename
from ..services.uploads.service import UploadService
from .paths import BadPath, bearer_token, parse_path
from .responses import file_response

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
# What reading a PUT body raises when the client goes away or breaks the chunked framing.
BODY_BROKEN: tuple[type[Exception], ...] = (OSError, HttpProcessingError)


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
    response = web.json_response(exc.to_json(), status=exc.kind.http_status)
    response.headers.update(SECURITY_HEADERS)
    return response


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
    if request.method == hdrs.METH_PUT:
        return await put_file(request, uploads, file_id, filename)
    if request.method in (hdrs.METH_GET, hdrs.METH_HEAD):
        return await get_file(request, uploads, file_id, filename)
    response = error_response(405, "method_not_allowed", f"use {ALLOWED_METHODS}")
    response.headers["Allow"] = ALLOWED_METHODS
    return response


async def put_file(request: web.Request, uploads: UploadService, file_id: str, filename: str
                   ) -> web.StreamResponse:
    body_started = False

    async def accepted() -> None:
        nonlocal body_started
        body_started = True
        if request.headers.get(hdrs.EXPECT, "").lower() == "100-continue":
            # Only now that the slot is checked: a refused client never sends its body.
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0

    try:
        await uploads.put_file(file_id, filename, token=bearer_token(request.headers.get(hdrs.AUTHORIZATION)),
                               declared_length=request.content_length,
                               content_type=request.headers.get(hdrs.CONTENT_TYPE), body=request.content,
                               broken=BODY_BROKEN, accepted=accepted)
    except UploadError as exc:
        response = upload_error_response(exc)
        if body_started:
            response.force_close()  # the rest of a refused body is not read
        return response
    return web.Response(status=201, headers=SECURITY_HEADERS)


async def get_file(request: web.Request, uploads: UploadService, file_id: str, filename: str
                   ) -> web.StreamResponse:
    try:
        served = await uploads.find_file(file_id, filename)
    except UploadError as exc:
        return upload_error_response(exc)
    headers = {
        **SECURITY_HEADERS,
        hdrs.CONTENT_TYPE: served.content_type,
        hdrs.CONTENT_DISPOSITION: content_disposition(served.content_type, served.filename),
        hdrs.CACHE_CONTROL: "private, max-age=31536000, immutable",  # a file never changes
    }
    return file_response(request, served.path, served.size, headers)
