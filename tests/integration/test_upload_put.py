"""PUT on the upload host: what matches the slot is stored; everything else is refused with its status and
leaves nothing servable behind."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dotimely_chat.storage import UploadRepository
from dotimely_chat.storage.repositories.uploads import UploadBatchRepository

from ..support.business import Api
from ..support.logs import errors_logged
from ..support.uploads import WAIT, UploadEnv, raw_request, status_of

pytestmark = pytest.mark.servers("prosody", "ejabberd")

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
PDF = b"%PDF-1.4\n" + os.urandom(5000) + b"\n%%EOF\n"


async def servable(env: UploadEnv, url: str) -> int:
    async with env.http.get(url, ssl=env.ssl) as response:
        return response.status


def leftovers(env: UploadEnv) -> list[str]:
    return [p.name for p in env.uploads.layout.partial_dir.iterdir()]


async def test_owner_sends_a_photo_and_a_pdf_and_another_member_downloads_them(upload_env: UploadEnv) -> None:
    env = upload_env
    photo = await env.upload(env.owner, "salon.png", PNG, "image/png")
    pdf = await env.upload(env.owner, "price list.pdf", PDF, "application/pdf")
    for url, data, ctype, disposition in ((photo, PNG, "image/png", "inline"),
                                          (pdf, PDF, "application/pdf", "attachment")):
        async with env.http.get(url, ssl=env.ssl) as response:  # the customer's download: the URL suffices
            assert response.status == 200
            assert await response.read() == data
            assert response.headers["Content-Type"] == ctype
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Content-Security-Policy"] == \
                "default-src 'none'; frame-ancestors 'none'; sandbox"
            assert response.headers["Content-Disposition"].startswith(disposition + "; filename=")
            assert "Access-Control-Allow-Origin" not in response.headers, "no Origin, no CORS"
    async with env.service.database.session() as session:
        stored = await UploadRepository(session).get_file(pdf.split("/")[-2])
    assert stored is not None
    assert (stored.uploader_jid, stored.size, stored.content_type, stored.filename) == \
        (env.owner.jid, len(PDF), "application/pdf", "price list.pdf")
    assert stored.sha256 == hashlib.sha256(PDF).hexdigest()
    assert stored.business_id is not None and stored.created_at is not None


async def test_an_svg_allowed_as_a_document_is_still_served_as_an_attachment(upload_env: UploadEnv) -> None:
    env = upload_env
    limits = env.uploads.settings.limits
    env.limit(types={**limits.types, "document": limits.types["document"] | {"image/svg+xml"}})
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    url = await env.upload(env.customer, "logo.svg", svg, "image/svg+xml")
    async with env.http.get(url, ssl=env.ssl) as response:
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["Content-Type"] == "image/svg+xml"
        assert "sandbox" in response.headers["Content-Security-Policy"]


async def test_a_put_that_does_not_match_its_slot_is_refused(upload_env: UploadEnv) -> None:
    env = upload_env
    url, token = await env.slot(env.staff, "photo.png", len(PNG), "image/png")
    other_url, other_token = await env.slot(env.customer, "other.png", len(PNG), "image/png")
    cases = [
        (None, PNG, "image/png", {}, 403),                                  # no token
        ("x" * 43, PNG, "image/png", {}, 403),                              # wrong token
        (other_token, PNG, "image/png", {}, 403),                           # another person's slot's token
        (token, PNG, "image/jpeg", {}, 415),                                # another type
        (token, PNG, "text/html", {}, 415),
        (token, PNG + b"x", "image/png", {}, 413),                          # longer
        (token, PNG[:-1], "image/png", {}, 400),                            # shorter
    ]
    for used_token, body, ctype, headers, expected in cases:
        status, answer = await env.put(url, used_token, body, ctype, headers)
        assert status == expected, (expected, answer)
        assert await servable(env, url) == 404 and leftovers(env) == []
    status, _ = await env.put(url, token, PNG, "image/png")
    assert status == 201, "the refusals did not use the slot up"
    status, _ = await env.put(other_url, other_token, PNG, "image/png")
    assert status == 201


async def test_a_slot_is_used_once_and_a_file_is_never_overwritten(upload_env: UploadEnv) -> None:
    env = upload_env
    url, token = await env.slot(env.owner, "a.pdf", len(PDF), "application/pdf")
    assert (await env.put(url, token, PDF, "application/pdf"))[0] == 201
    status, answer = await env.put(url, token, b"%PDF" + b"y" * (len(PDF) - 4), "application/pdf")
    assert status == 409 and answer["errcode"] == "already_uploaded"
    async with env.http.get(url, ssl=env.ssl) as response:
        assert await response.read() == PDF


async def test_slots_and_files_survive_a_restart_of_the_service(upload_env: UploadEnv) -> None:
    env = upload_env
    url, token = await env.slot(env.customer, "a.pdf", len(PDF), "application/pdf")
    used_url, used_token = await env.slot(env.customer, "b.pdf", len(PDF), "application/pdf")
    assert (await env.put(used_url, used_token, PDF, "application/pdf"))[0] == 201
    env.uploads.slots.clear()  # what a restart forgets; the database remembers
    env.uploads.files = type(env.uploads.files)(10, 60)
    assert (await env.put(url, token, PDF, "application/pdf"))[0] == 201
    status, answer = await env.put(used_url, used_token, PDF, "application/pdf")
    assert status == 409 and answer["errcode"] == "already_uploaded"
    assert await servable(env, used_url) == 200 and await servable(env, url) == 200


async def test_a_slot_of_a_deleted_business_cannot_be_used(upload_env: UploadEnv, api: Api) -> None:
    env = upload_env
    url, token = await env.slot(env.staff, "a.png", len(PNG), "image/png")
    await api.call("DELETE", f"/v1/businesses/{env.business['id']}", expect=200)
    status, answer = await env.put(url, token, PNG, "image/png")
    assert status == 410, answer
    assert await servable(env, url) == 404 and leftovers(env) == []
    assert not env.uploads.layout.final_path(url.split("/")[-2]).exists()


async def test_concurrent_puts_on_one_slot_store_one_body(upload_env: UploadEnv) -> None:
    env = upload_env
    size = 4 * 1024**2
    url, token = await env.slot(env.owner, "clip.mp4", size, "video/mp4")

    async def slow_body(fill: bytes) -> AsyncIterator[bytes]:
        for _ in range(size // 65536):
            yield fill * 65536
            await asyncio.sleep(0.001)

    results = await asyncio.gather(*(env.put(url, token, slow_body(fill), "video/mp4",
                                             {"Content-Length": str(size)}) for fill in (b"a", b"b")))
    assert sorted(status for status, _ in results) == [201, 409]
    async with env.http.get(url, ssl=env.ssl) as response:
        body = await response.read()
    assert body in (b"a" * size, b"b" * size)


async def test_an_expired_slot_is_refused_with_gone(upload_env: UploadEnv) -> None:
    env = upload_env
    url, token = await env.slot(env.customer, "a.png", len(PNG), "image/png")
    # Make it expire now, keeping the signature valid (the token covers the expiry).
    file_id = url.split("/")[-2]
    async with env.service.database.session() as session:
        slot = await UploadRepository(session).get_slot(file_id)
        assert slot is not None
        original = slot.expires_at
    import dotimely_chat.services.uploads.service as service_module

    real_now = service_module.utcnow
    service_module.utcnow = lambda: original  # type: ignore[assignment]
    try:
        status, answer = await env.put(url, token, PNG, "image/png")
    finally:
        service_module.utcnow = real_now  # type: ignore[assignment]
    assert status == 410 and answer["errcode"] == "slot_expired"
    assert await servable(env, url) == 404


async def test_a_refused_put_with_expect_continue_never_sends_its_body(upload_env: UploadEnv) -> None:
    env = upload_env
    url, token = await env.slot(env.owner, "big.mp4", 50 * 1024**2, "video/mp4")
    path = url.removeprefix(env.base_url).encode()
    head = (b"PUT " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\nContent-Length: 52428801\r\n"
            b"Expect: 100-continue\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n")
    answer = await raw_request(env, head)
    assert status_of(answer) == 413 and b"100 Continue" not in answer
    head_ok = head.replace(b"52428801", b"52428800")
    answer = await raw_request(env, head_ok)
    assert answer.startswith(b"HTTP/1.1 100 Continue"), answer


@pytest.mark.parametrize("how", ["abort", "close"])
async def test_an_interrupted_upload_logs_one_warning_leaves_nothing_and_the_slot_can_be_retried(
    upload_env: UploadEnv, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    """A client that drops its PUT mid-body (a phone losing its network) gets nothing stored, one WARNING
    line with who, which slot and how much arrived (no traceback: a client must not flood the error log),
    and may PUT again to the same slot until it expires: a retrying client gets 201."""
    env = upload_env
    data = os.urandom(3 * 1024**2)
    url, token = await env.slot(env.staff, "clip.webm", len(data), "video/webm")
    file_id = url.split("/")[-2]
    path = url.removeprefix(env.base_url).encode()
    head = (b"PUT " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: video/webm\r\nContent-Length: "
            + str(len(data)).encode() + b"\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n")
    listen = env.service.config.http.upload_listen
    caplog.set_level(logging.INFO)
    caplog.clear()
    _reader, writer = await asyncio.open_connection(listen.host, listen.port, ssl=env.ssl,
                                                    server_hostname=listen.host)
    writer.write(head + data[: len(data) // 2])
    await writer.drain()
    await asyncio.sleep(0.3)
    if how == "abort":
        writer.transport.abort()  # the client goes away mid-body (a TCP reset)
    else:
        writer.close()  # or closes its side cleanly (TLS close_notify, FIN)
    for _ in range(100):
        if not leftovers(env) and any("broke off" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # anything logged after the warning would be seen too
    assert leftovers(env) == [] and await servable(env, url) == 404
    assert errors_logged(caplog) == []
    assert not any(r.exc_info for r in caplog.records)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    match = re.search(rf"PUT of {file_id[:6]}… by {re.escape(env.staff.jid)} \(business \d+\) broke off after "
                      rf"(\d+) of {len(data)} bytes", warnings[0])
    assert match and 0 <= int(match.group(1)) <= len(data) // 2, warnings[0]
    status, _ = await env.put(url, token, data, "video/webm")
    assert status == 201
    async with env.http.get(url, ssl=env.ssl) as response:
        assert await asyncio.wait_for(response.read(), WAIT) == data


async def test_a_chunked_body_longer_than_the_slot_is_cut_off(upload_env: UploadEnv) -> None:
    env = upload_env
    url, token = await env.slot(env.customer, "a.txt", 1000, "text/plain")

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(1000):
            yield b"z" * 65536

    status, answer = await env.put(url, token, endless(), "text/plain")  # no Content-Length: chunked
    assert status == 413 and answer["max_file_size"] == 1000
    assert await servable(env, url) == 404 and leftovers(env) == []


async def test_a_put_whose_record_cannot_be_written_is_refused_with_503_and_leaves_no_file(
    upload_env: UploadEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = upload_env
    url, token = await env.slot(env.staff, "report.pdf", len(PDF), "application/pdf")

    def broken(self: UploadBatchRepository, *args: Any) -> bool:
        raise OSError("disk I/O error")

    monkeypatch.setattr(UploadBatchRepository, "add_file", broken)
    status, body = await env.put(url, token, PDF, "application/pdf")
    assert (status, body["errcode"]) == (503, "unavailable") and "try again" in body["error"]
    assert await servable(env, url) == 404
    assert not env.uploads.layout.final_path(url.split("/")[-2]).exists() and leftovers(env) == []
    monkeypatch.undo()
    status, body = await env.put(url, token, PDF, "application/pdf")
    assert status == 201, "the slot is still unused: the same PUT again succeeds"
    assert await servable(env, url) == 200
