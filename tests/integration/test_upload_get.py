"""GET/HEAD/OPTIONS on the upload host: ranges for video seeking, CORS for browser clients, odd paths and
huge headers refused, many uploads at once."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from . import test_upload_support
from .test_upload_support import UploadEnv, raw_request, status_of

upload_env = test_upload_support.upload_env  # the fixture

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


async def test_browser_clients_get_cors_on_preflight_put_and_get(upload_env: UploadEnv) -> None:
    env = upload_env
    url, token = await env.slot(env.owner, "a.png", 100, "image/png")
    origin = "https://web.example"
    async with env.http.options(url, ssl=env.ssl, headers={
            "Origin": origin, "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type"}) as response:
        assert response.status in (200, 204)
        assert response.headers["Access-Control-Allow-Origin"] in ("*", origin)
        assert {"PUT", "GET", "OPTIONS"} <= {m.strip() for m in
                                            response.headers["Access-Control-Allow-Methods"].split(",")}
        allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type"} <= allowed
    async with env.http.put(url, data=b"p" * 100, ssl=env.ssl, headers={
            "Origin": origin, "Authorization": f"Bearer {token}", "Content-Type": "image/png"}) as response:
        assert response.status == 201
        assert response.headers["Access-Control-Allow-Origin"] in ("*", origin)
    async with env.http.get(url, ssl=env.ssl, headers={"Origin": origin}) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] in ("*", origin)
        assert "Access-Control-Allow-Credentials" not in response.headers, "GETs are never authorised by cookie"


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
