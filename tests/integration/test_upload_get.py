"""GET/HEAD/OPTIONS on the upload host: ranges for video seeking, CORS for browser clients, odd paths and
huge headers refused, many uploads at once."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from urllib.parse import quote

import aiohttp
import pytest

from dotimely_chat.config import origin_of
from dotimely_chat.services.uploads.slot_tokens import SlotFacts

from ..support.logs import errors_logged
from ..support.uploads import UploadEnv, raw_request, status_of

pytestmark = pytest.mark.servers("prosody", "ejabberd")

BIG_VIDEO = os.urandom(2 * 1024**2 + 123)  # served by FileResponse
SMALL_VIDEO = BIG_VIDEO[: 300 * 1024]  # read in one go


@pytest.mark.parametrize("video", [BIG_VIDEO, SMALL_VIDEO], ids=["large", "small"])
async def test_range_requests_let_a_player_seek(upload_env: UploadEnv, video: bytes) -> None:
    env = upload_env
    url = await env.upload(env.customer, "clip.mp4", video, "video/mp4")
    async with env.http.get(url, ssl=env.ssl, headers={"Range": "bytes=1000-1999"}) as response:
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(video)}"
        assert await response.read() == video[1000:2000]
        assert response.headers["Content-Type"] == "video/mp4"
        assert response.headers["Content-Disposition"].startswith("inline;")
    async with env.http.get(url, ssl=env.ssl, headers={"Range": "bytes=-10"}) as response:
        assert response.status == 206 and await response.read() == video[-10:]
    async with env.http.get(url, ssl=env.ssl, headers={"Range": "bytes=0-"}) as response:
        assert response.status == 206 and await response.read() == video
    async with env.http.get(url, ssl=env.ssl, headers={"Range": f"bytes={len(video) + 5}-"}) as response:
        assert response.status == 416
    async with env.http.head(url, ssl=env.ssl) as response:
        assert response.status == 200 and int(response.headers["Content-Length"]) == len(video)
        assert await response.read() == b""
        assert response.headers["Accept-Ranges"] == "bytes"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("video", [BIG_VIDEO, SMALL_VIDEO], ids=["large", "small"])
async def test_two_ranges_are_a_multipart_byteranges_answer(upload_env: UploadEnv, video: bytes) -> None:
    env = upload_env
    url = await env.upload(env.customer, "clip.mp4", video, "video/mp4")
    async with env.http.get(url, ssl=env.ssl, headers={"Range": "bytes=0-1,5-6,-3"}) as response:
        assert response.status == 206 and "Content-Range" not in response.headers
        assert response.content_type == "multipart/byteranges"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        parts = []
        reader = aiohttp.MultipartReader.from_response(response)
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            parts.append((part.headers["Content-Type"], part.headers["Content-Range"], await part.read()))
    size = len(video)
    assert parts == [("video/mp4", f"bytes 0-1/{size}", video[0:2]), ("video/mp4", f"bytes 5-6/{size}", video[5:7]),
                     ("video/mp4", f"bytes {size - 3}-{size - 1}/{size}", video[-3:])]
    async with env.http.head(url, ssl=env.ssl, headers={"Range": "bytes=0-1,5-6"}) as response:
        assert response.status == 206 and response.content_type == "multipart/byteranges"
        assert int(response.headers["Content-Length"]) > 4 and await response.read() == b""
    async with env.http.get(url, ssl=env.ssl, headers={"Range": "bytes=0-4,3-9"}) as response:
        assert response.status == 206, "overlapping ranges are one part"
        assert response.headers["Content-Range"] == f"bytes 0-9/{size}" and await response.read() == video[:10]


@pytest.mark.parametrize("video", [BIG_VIDEO, SMALL_VIDEO], ids=["large", "small"])
@pytest.mark.parametrize(("header", "status"), [
    ("bytes=-0", 416), (f"bytes={len(BIG_VIDEO) + 1}-,-0", 416),
    ("bytes=5-2", 200), ("bytes=abc", 200), ("bytes=0-1,x", 200), ("items=0-1", 200), ("bytes 0-1", 200),
    ("bytes=" + ",".join(f"{n}-{n}" for n in range(0, 100, 2)), 200),  # too many ranges: ignored
])
async def test_unsatisfiable_and_malformed_ranges(upload_env: UploadEnv, video: bytes, header: str, status: int
                                                  ) -> None:
    env = upload_env
    url = await env.upload(env.customer, "clip.mp4", video, "video/mp4")
    async with env.http.get(url, ssl=env.ssl, headers={"Range": header}) as response:
        assert response.status == status
        body = await response.read()
        if status == 416:
            assert response.headers["Content-Range"] == f"bytes */{len(video)}" and video not in body
        else:
            assert body == video and "Content-Range" not in response.headers


async def test_an_if_range_with_the_files_etag_gets_the_range_and_another_the_whole_file(upload_env: UploadEnv
                                                                                       ) -> None:
    env = upload_env
    url = await env.upload(env.customer, "clip.mp4", BIG_VIDEO, "video/mp4")
    async with env.http.head(url, ssl=env.ssl) as response:
        etag = response.headers["ETag"]
    async with env.http.get(url, ssl=env.ssl, headers={"Range": "bytes=0-1", "If-Range": etag}) as response:
        assert response.status == 206 and await response.read() == BIG_VIDEO[:2]
    for other in ('"other"', f"W/{etag}", "Thu, 01 Jan 1970 00:00:00 GMT"):
        async with env.http.get(url, ssl=env.ssl, headers={"Range": "bytes=0-1", "If-Range": other}) as response:
            assert response.status == 200 and await response.read() == BIG_VIDEO


async def test_the_web_pages_origin_gets_cors_on_preflight_put_and_get(upload_env: UploadEnv) -> None:
    env = upload_env
    url, token = await env.slot(env.owner, "a.png", 100, "image/png")
    origin = origin_of(env.service.config.web.public_url)  # upload.cors_origins = [] by default
    async with env.http.options(url, ssl=env.ssl, headers={
            "Origin": origin, "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type"}) as response:
        assert response.status in (200, 204)
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert {"PUT", "GET", "OPTIONS"} <= {m.strip() for m in
                                            response.headers["Access-Control-Allow-Methods"].split(",")}
        allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type"} <= allowed
    async with env.http.put(url, data=b"p" * 100, ssl=env.ssl, headers={
            "Origin": origin, "Authorization": f"Bearer {token}", "Content-Type": "image/png"}) as response:
        assert response.status == 201
        assert response.headers["Access-Control-Allow-Origin"] == origin
    async with env.http.get(url, ssl=env.ssl, headers={"Origin": origin}) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert "Origin" in response.headers["Vary"]
        assert "Access-Control-Allow-Credentials" not in response.headers, "GETs are never authorised by cookie"


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:1", "null"])
async def test_another_origin_gets_no_cors(upload_env: UploadEnv, origin: str) -> None:
    env = upload_env
    url, token = await env.slot(env.owner, "a.png", 100, "image/png")
    async with env.http.options(url, ssl=env.ssl, headers={
            "Origin": origin, "Access-Control-Request-Method": "PUT"}) as response:
        assert "Access-Control-Allow-Origin" not in response.headers
    async with env.http.put(url, data=b"p" * 100, ssl=env.ssl, headers={
            "Origin": origin, "Authorization": f"Bearer {token}", "Content-Type": "image/png"}) as response:
        assert response.status == 201, "CORS is the browser's rule; the token still decides the PUT"
        assert "Access-Control-Allow-Origin" not in response.headers
    for headers in ({"Origin": origin}, {}):
        async with env.http.get(url, ssl=env.ssl, headers=headers) as response:
            assert response.status == 200 and "Access-Control-Allow-Origin" not in response.headers
            assert response.headers["Vary"] == "Origin"


async def test_configured_origins_replace_the_default_and_a_star_allows_any(upload_env: UploadEnv) -> None:
    env = upload_env
    url = await env.upload(env.owner, "a.png", b"p" * 100, "image/png")
    env.limit(cors_origins=frozenset({"https://chat.example.com"}))
    for origin, allowed in (("https://chat.example.com", True),
                            (origin_of(env.service.config.web.public_url), False)):
        async with env.http.get(url, ssl=env.ssl, headers={"Origin": origin}) as response:
            assert response.headers.get("Access-Control-Allow-Origin") == (origin if allowed else None)
    env.limit(cors_origins=frozenset({"*"}))
    async with env.http.get(url, ssl=env.ssl, headers={"Origin": "https://any.example"}) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", [
    "/upload/../../../../etc/passwd",
    "/upload/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/upload/{id}/..%2f..%2f..%2fetc%2fpasswd",
    "/upload/{id}/%252e%252e%252fsecret",
    "/upload/{id}/%c0%ae%c0%ae%c0%af",
    "/upload/{id}/name%00.png",
    "/upload/{id}/%5c..%5c..%5cwin.ini",
    "/upload/{ID}/{name}",
    "/upload/{id}/{name}/",
    "/upload/{id}/./{name}",
    "//upload/{id}/{name}",
    "/upload/{id}/other.png",
    "/upload/{id}",
    "/partial/{id}",
    "/files/{id2}/{id}",
    "/upload/{id}/%ZZ",
])
async def test_odd_paths_never_reach_a_file(upload_env: UploadEnv, path: str) -> None:
    env = upload_env
    data = b"SECRET-" + os.urandom(16).hex().encode()
    url = await env.upload(env.owner, "real.png", data, "image/png")
    file_id, name = url.split("/")[-2:]
    target = path.format(id=file_id, ID=file_id.upper(), name=name, id2=file_id[:2]).encode()
    answer = await raw_request(env, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(answer) in (400, 404), answer[:200]
    assert data not in answer and b"root:" not in answer
    assert b"nosniff" in answer


async def test_the_real_path_with_an_escaped_name_is_served(upload_env: UploadEnv) -> None:
    env = upload_env
    url = await env.upload(env.owner, "Café 100% #1.png", b"x" * 10, "image/png")
    assert url.endswith("/Caf%C3%A9%20100%25%20%231.png")
    target = url.removeprefix(env.base_url).encode()
    answer = await raw_request(env, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(answer) == 200 and answer.endswith(b"x" * 10)
    assert b"filename*=UTF-8''Caf%C3%A9%20100%25%20%231.png" in answer


@pytest.mark.parametrize("head", [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(200)) + b"\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
])
async def test_huge_request_heads_are_refused(upload_env: UploadEnv, head: bytes) -> None:
    answer = await raw_request(upload_env, head)
    assert status_of(answer) in (400, 414, 431)
    ok = await raw_request(upload_env, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(ok) == 200


async def test_unknown_methods_are_refused(upload_env: UploadEnv) -> None:
    env = upload_env
    url = await env.upload(env.owner, "a.png", b"x", "image/png")
    async with env.http.delete(url, ssl=env.ssl) as response:
        assert response.status == 405 and "PUT" in response.headers["Allow"]
    async with env.http.get(url, ssl=env.ssl) as response:
        assert response.status == 200


async def test_many_concurrent_uploads_are_all_stored_intact(upload_env: UploadEnv) -> None:
    env = upload_env
    files = [(env.owner if i % 2 else env.customer, f"f{i}.pdf", os.urandom(100_000 + i * 4099))
             for i in range(24)]
    urls = await asyncio.gather(*(env.upload(member, name, data, "application/pdf") for member, name, data in files))
    assert len(set(urls)) == len(files)

    async def fetch(url: str) -> bytes:
        async with env.http.get(url, ssl=env.ssl) as response:
            return await response.read()

    bodies = await asyncio.gather(*(fetch(url) for url in urls))
    assert [hashlib.sha256(b).digest() for b in bodies] == [hashlib.sha256(d).digest() for _, _, d in files]
    assert list(env.uploads.layout.partial_dir.iterdir()) == []


@pytest.mark.parametrize(("name", "ctype", "safe"), [
    ("CON", "text/plain", "_CON"), ("NUL.mp4", "video/mp4", "_NUL.mp4"), ("LPT1", "text/plain", "_LPT1"),
    ("con.txt", "text/plain", "_con.txt"), ("com1.PDF", "application/pdf", "_com1.PDF"),
    ("Aux.tar.gz", "text/plain", "_Aux.tar.gz"), ("prn .png", "image/png", "_prn .png"),
])
async def test_windows_device_names_never_reach_a_url_or_a_download_name(upload_env: UploadEnv, name: str,
                                                                         ctype: str, safe: str) -> None:
    env = upload_env
    url = await env.upload(env.owner, name, b"x" * 10, ctype)
    assert url.rsplit("/", 1)[1] == quote(safe, safe="")
    async with env.http.get(url, ssl=env.ssl) as response:
        assert response.status == 200
        assert f'filename="{safe}"' in response.headers["Content-Disposition"]


async def test_a_device_name_stored_by_an_older_version_is_downloaded_under_a_safe_name(upload_env: UploadEnv
                                                                                        ) -> None:
    env = upload_env
    slot = await env.uploads.writer.slot(env.owner.jid, "CON.txt", 10, "text/plain", "text/plain",
                                         "ab" * 20)  # as an older version recorded it, unsanitised
    assert (await env.put(f"{env.base_url}/upload/{slot.file_id}/CON.txt",
                          env.uploads.signer.token(SlotFacts(slot.file_id, 10, "text/plain",
                                                             int(slot.expires_at.timestamp()))),
                          b"y" * 10, "text/plain"))[0] == 201
    async with env.http.get(f"{env.base_url}/upload/{slot.file_id}/CON.txt", ssl=env.ssl) as response:
        assert response.status == 200
        assert response.headers["Content-Disposition"] == \
            "attachment; filename=\"_CON.txt\"; filename*=UTF-8''_CON.txt"


@pytest.mark.parametrize("range_header", ["", "Range: bytes=0-10,2000000-9000000\r\n"], ids=["whole", "parts"])
async def test_a_download_dropped_mid_body_logs_no_error(upload_env: UploadEnv, caplog: pytest.LogCaptureFixture,
                                                         range_header: str) -> None:
    """A player that seeks (or a phone that loses its network) drops its GET: nothing in the error log."""
    env = upload_env
    data = os.urandom(8 * 1024**2)
    url = await env.upload(env.owner, "clip.mp4", data, "video/mp4")
    listen = env.service.config.http.upload_listen
    path = url.removeprefix(env.base_url).encode()
    caplog.set_level(logging.INFO)
    caplog.clear()
    for _ in range(3):
        reader, writer = await asyncio.open_connection(listen.host, listen.port, ssl=env.ssl,
                                                       server_hostname=listen.host)
        writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + range_header.encode() + b"\r\n")
        await writer.drain()
        await reader.read(100_000)
        writer.transport.abort()
    async with env.http.get(url, ssl=env.ssl) as response:  # the host goes on serving
        assert await response.read() == data
    await asyncio.sleep(0.5)
    assert errors_logged(caplog) == []
