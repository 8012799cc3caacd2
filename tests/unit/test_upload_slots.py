"""Slot ids, PUT tokens, the signing key, URLs (services.uploads.slot_tokens), the file layout
(services.uploads.file_store) and request paths (http_upload.paths)."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from dotimely_chat.http_upload.paths import BadPath, bearer_token, parse_path
from dotimely_chat.services.uploads.file_store import FileLayout
from dotimely_chat.services.uploads.slot_tokens import (
    SlotFacts,
    SlotSigner,
    file_url,
    load_signing_key,
    new_file_id,
)

ID = "0123456789abcdef0123456789abcdef01234567"


def test_file_ids_are_160_random_bits_in_hex() -> None:
    ids = {new_file_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 40 and int(i, 16) >= 0 for i in ids)


def test_signing_key_is_created_once_private_and_reused(tmp_path: Path) -> None:
    key = load_signing_key(tmp_path / "state")
    assert len(key) == 32
    assert stat.S_IMODE(os.stat(tmp_path / "state" / "upload-signing.key").st_mode) == 0o600
    assert load_signing_key(tmp_path / "state") == key
    assert load_signing_key(tmp_path / "other") != key


def test_a_token_fits_exactly_one_slot() -> None:
    signer = SlotSigner(b"k" * 32)
    facts = SlotFacts(ID, 1000, "image/png", 1_900_000_000)
    token = signer.token(facts)
    assert len(token) >= 43 and signer.verify(facts, token)
    for change in ({"file_id": ID[::-1]}, {"size": 1001}, {"content_type": "image/jpeg"},
                   {"expires_at": 1_900_000_001}):
        assert not signer.verify(dataclasses.replace(facts, **change), token), change
    assert not SlotSigner(b"x" * 32).verify(facts, token)
    assert not signer.verify(facts, token[:-1])
    assert not signer.verify(facts, "ünïcode")


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None), ("", None), (None, None),
])
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_urls_end_with_the_escaped_file_name() -> None:
    assert file_url("https://up.example:8443/", ID, "Café 100%.jpg") == \
        f"https://up.example:8443/upload/{ID}/Caf%C3%A9%20100%25.jpg"
    url = file_url("https://up.example", ID, "a/b?.png")
    assert url.endswith("/a%2Fb%3F.png")


@pytest.mark.parametrize(("raw", "route", "name"), [
    (f"/upload/{ID}/photo.jpg", "upload", "photo.jpg"),
    (f"/upload/{ID}/Caf%C3%A9%20100%25.jpg", "upload", "Café 100%.jpg"),
    (f"/upload/{ID}/%252e%252e", "upload", "%2e%2e"),  # decoded once: stays a literal name
    (f"/upload/{ID}/photo.jpg?x=1", "upload", "photo.jpg"),
    ("/healthz", "health", ""),
    ("/", "unknown", ""),
    (f"/upload/{ID}", "unknown", ""),
    (f"/upload/{ID.upper()}/photo.jpg", "unknown", ""),
    (f"/upload/{ID[:-1]}/photo.jpg", "unknown", ""),
    (f"/upload/{ID}/a/b.jpg", "unknown", ""),
    (f"/upload/{ID}/a%2Fb.jpg", "unknown", ""),  # an escaped slash is a slash once decoded
    ("/etc/passwd", "unknown", ""),
])
def test_paths_are_decoded_once_then_routed(raw: str, route: str, name: str) -> None:
    parsed = parse_path(raw)
    assert (parsed.route, parsed.filename) == (route, name)


@pytest.mark.parametrize("raw", [
    "/upload/../../etc/passwd",
    f"/upload/{ID}/../../../etc/passwd",
    "/upload/%2e%2e/%2e%2e/etc/passwd",
    f"/upload/{ID}/..%2f..%2fetc%2fpasswd",
    f"/upload/{ID}/./photo.jpg",
    f"/upload//{ID}/photo.jpg",
    f"//upload/{ID}/photo.jpg",
    f"/upload/{ID}/photo.jpg/",
    f"/upload/{ID}/photo%00.jpg",
    f"/upload/{ID}/photo%0d%0a.jpg",
    f"/upload/{ID}/%5c..%5cboot.ini",
    f"/upload/{ID}/%c0%ae%c0%ae",  # overlong UTF-8 for '..'
    f"/upload/{ID}/%ff.jpg",
    "upload/x",
])
def test_odd_paths_are_refused(raw: str) -> None:
    with pytest.raises(BadPath):
        parse_path(raw)


def test_only_file_ids_become_paths(tmp_path: Path) -> None:
    layout = FileLayout(tmp_path)
    assert layout.final_path(ID) == tmp_path / "files" / "01" / ID
    assert layout.partial_path(ID).parent == tmp_path / "partial"
    assert layout.partial_path(ID) != layout.partial_path(ID)
    for bad in ("../../etc/passwd", ID.upper(), ID + "/x", ""):
        with pytest.raises(ValueError):
            layout.final_path(bad)
        with pytest.raises(ValueError):
            layout.partial_path(bad)
