"""Small-file bodies with Range (http_upload.responses.small_response), and the headers every GET carries."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from dotimely_chat.http_upload.responses import small_response
from dotimely_chat.http_upload.views import content_disposition

DATA = bytes(range(100))


@pytest.mark.parametrize(("range_header", "status", "body", "content_range"), [
    (None, 200, DATA, None),
    ("bytes=0-9", 206, DATA[:10], "bytes 0-9/100"),
    ("bytes=10-", 206, DATA[10:], "bytes 10-99/100"),
    ("bytes=-5", 206, DATA[-5:], "bytes 95-99/100"),
    ("bytes=-500", 206, DATA, "bytes 0-99/100"),
    ("bytes=90-200", 206, DATA[90:], "bytes 90-99/100"),
    ("bytes=99-99", 206, DATA[99:], "bytes 99-99/100"),
    ("bytes=100-", 416, b"", "bytes */100"),
    ("bytes=-0", 416, b"", "bytes */100"),  # a zero-length suffix is unsatisfiable (RFC 9110 §14.1.3)
    ("bytes=5-2", 200, DATA, None),  # an invalid range set is ignored
    ("bytes=abc", 200, DATA, None),
    ("items=0-1", 200, DATA, None),  # an unknown unit is ignored
])
def test_ranges_of_a_small_file(range_header: str | None, status: int, body: bytes, content_range: str | None
                                ) -> None:
    headers = {"Range": range_header} if range_header else {}
    response = small_response(make_mocked_request("GET", "/x", headers=headers), DATA,
                              {"Content-Type": "video/mp4", "X-Content-Type-Options": "nosniff"})
    assert response.status == status
    assert response.headers.get("Content-Range") == content_range
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if status != 416:
        assert response.body == body


def test_two_ranges_of_a_small_file_are_a_multipart_byteranges() -> None:
    response = small_response(make_mocked_request("GET", "/x", headers={"Range": "bytes=0-1,5-6"}), DATA,
                              {"Content-Type": "video/mp4"})
    assert response.status == 206 and "Content-Range" not in response.headers
    ctype, _, boundary = response.headers["Content-Type"].partition("; boundary=")
    assert ctype == "multipart/byteranges" and len(boundary) == 32
    assert response.body == (f"--{boundary}\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-1/100\r\n\r\n"
                             ).encode() + DATA[0:2] + (f"\r\n--{boundary}\r\nContent-Type: video/mp4\r\n"
                                                       "Content-Range: bytes 5-6/100\r\n\r\n").encode() \
        + DATA[5:7] + f"\r\n--{boundary}--\r\n".encode()


def test_an_if_range_on_a_small_file_gets_the_whole_file() -> None:
    """Small files carry no validator, so no If-Range can match."""
    response = small_response(make_mocked_request("GET", "/x", headers={"Range": "bytes=0-1", "If-Range": '"x"'}),
                              DATA, {})
    assert response.status == 200 and response.body == DATA


@pytest.mark.parametrize(("ctype", "name", "expected"), [
    ("image/png", "photo.png", "inline; filename=\"photo.png\"; filename*=UTF-8''photo.png"),
    ("application/pdf", "Preisliste März.pdf",
     "attachment; filename=\"Preisliste M_rz.pdf\"; filename*=UTF-8''Preisliste%20M%C3%A4rz.pdf"),
    ("image/svg+xml", "a;b%c.svg", "attachment; filename=\"a_b_c.svg\"; filename*=UTF-8''a%3Bb%25c.svg"),
])
def test_content_disposition_names_the_file_safely(ctype: str, name: str, expected: str) -> None:
    assert content_disposition(ctype, name) == expected
