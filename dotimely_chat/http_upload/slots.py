"""Slot ids, PUT tokens, URLs and request paths (no aiohttp, no storage).

A file id is 160 random bits in hex; it is the capability in the GET URL. The PUT token is an HMAC-SHA256
over the slot (id, size, type, expiry) under a persistent key in the state directory: the database holds
no token, and a token fits one slot only. Paths are decoded once, normalised, then matched (§8).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import posixpath
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

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


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def file_url(public_url: str, file_id: str, filename: str) -> str:
    """The slot's PUT and GET URL; it ends with the file's name, whose extension clients use to show media."""
    return f"{public_url.rstrip('/')}{UPLOAD_PREFIX}{file_id}/{quote(filename, safe='')}"


@dataclass(frozen=True)
class ParsedPath:
    route: str  # "upload", "health" or "unknown"
    file_id: str = ""
    filename: str = ""


class BadPath(ValueError):
    """The request path is malformed (bad escapes, dot segments, NUL, backslash...)."""


def parse_path(raw_path: str) -> ParsedPath:
    """Decode the raw path once, refuse anything a normaliser would change, then route."""
    path = raw_path.split("?", 1)[0]
    try:
        decoded = unquote(path, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BadPath("the path is not UTF-8") from None
    if not decoded.startswith("/") or "\x00" in decoded or "\\" in decoded:
        raise BadPath("a path must be absolute, without NUL or backslash")
    if posixpath.normpath(decoded) != decoded or decoded.startswith("//"):
        raise BadPath("a path must not hold '.', '..' or empty segments")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in decoded):
        raise BadPath("a path must not hold control characters")
    if decoded == "/healthz":
        return ParsedPath("health")
    if decoded.startswith(UPLOAD_PREFIX):
        parts = decoded[len(UPLOAD_PREFIX):].split("/")
        if len(parts) == 2 and FILE_ID_RE.fullmatch(parts[0]) and parts[1]:
            return ParsedPath("upload", parts[0], parts[1])
    return ParsedPath("unknown")


@dataclass(frozen=True)
class FileLayout:
    """Where files live: complete files under files/<2>/<id>, uploads in progress under partial/.
    Only ids that match FILE_ID_RE ever become paths."""

    root: Path

    @property
    def partial_dir(self) -> Path:
        return self.root / "partial"

    @property
    def files_dir(self) -> Path:
        return self.root / "files"

    def final_path(self, file_id: str) -> Path:
        if not FILE_ID_RE.fullmatch(file_id):
            raise ValueError("not a file id")
        return self.files_dir / file_id[:2] / file_id

    def partial_path(self, file_id: str) -> Path:
        if not FILE_ID_RE.fullmatch(file_id):
            raise ValueError("not a file id")
        return self.partial_dir / f"{file_id}.{secrets.token_hex(4)}"

    def ensure(self) -> None:
        self.partial_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.files_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
