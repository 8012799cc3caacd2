"""Request paths and the PUT's bearer header (no aiohttp, no storage).

Paths are decoded once, normalised, then matched (PRODUCT.md §8): only a path of the shape a slot's URL
has (services.uploads.slot_tokens.file_url) reaches the upload service.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from urllib.parse import unquote

from ..services.uploads.slot_tokens import FILE_ID_RE, UPLOAD_PREFIX


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


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
