"""Slot ids, PUT tokens and a slot's URL (no aiohttp, no storage).

A file id is 160 random bits in hex; it is the capability in the GET URL. The PUT token is an HMAC-SHA256
over the slot (id, size, type, expiry) under a persistent key in the state directory: the database holds
no token, and a token fits one slot only. The upload host routes the URLs built here
(http_upload.paths.parse_path).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

FILE_ID_BYTES = 20
FILE_ID_RE = re.compile(r"[0-9a-f]{40}")
UPLOAD_PREFIX = "/upload/"
KEY_FILE_NAME = "upload-signing.key"


def new_file_id() -> str:
    return secrets.token_hex(FILE_ID_BYTES)


def load_signing_key(state_directory: Path) -> bytes:
    """The persistent signing key: created once (mode 0600), then reused across restarts."""
    path = state_directory / KEY_FILE_NAME
    state_directory.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) < 32:
            raise RuntimeError(f"{path} is damaged (shorter than 32 bytes); delete it to make a new one") from None
        return key
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


@dataclass(frozen=True)
class SlotFacts:
    """What a PUT token vouches for."""

    file_id: str
    size: int
    content_type: str
    expires_at: int  # Unix seconds


class SlotSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def token(self, facts: SlotFacts) -> str:
        message = f"v1\n{facts.file_id}\n{facts.size}\n{facts.content_type}\n{facts.expires_at}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def verify(self, facts: SlotFacts, token: str) -> bool:
        return hmac.compare_digest(self.token(facts).encode(), token.encode("utf-8", "replace"))


def file_url(public_url: str, file_id: str, filename: str) -> str:
    """The slot's PUT and GET URL; it ends with the file's name, whose extension clients use to show media."""
    return f"{public_url.rstrip('/')}{UPLOAD_PREFIX}{file_id}/{quote(filename, safe='')}"
