"""Attachments: which files a person may upload (PRODUCT.md §4) and how a browser may show them (§8).

Pure rules over plain values (standard library only): the caller looks up membership and usage, the
limits come from the `[upload]` config section.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

Kind = Literal["picture", "video", "document"]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
Reason = Literal["not_a_member", "bad_request", "type_not_allowed", "file_too_large", "quota_reached"]
REASONS: Final[tuple[Reason, ...]] = get_args(Reason)

# Top-level types a browser renders without running anything; image/svg+xml is a document that can hold
# scripts, so it is an exception (PRODUCT.md §8).
INLINE_TOP_LEVEL: Final[frozenset[str]] = frozenset({"image", "video", "audio"})
NEVER_INLINE: Final[frozenset[str]] = frozenset({"image/svg+xml"})
MAX_FILENAME_LENGTH: Final = 120
# A slot's size attribute: plain ASCII decimal digits only (Python's int() also takes "+16", " 16", "1_6" and
# other scripts' digits such as "١٦"); 20 digits hold any size a disk has.
_SIZE_TEXT_RE = re.compile(r"[0-9]{1,20}")
_SEPARATORS: Final = '"<>|*?:'
# Names Windows opens as devices whatever their extension or case ("NUL.mp4", "con.txt", "COM¹"): a
# downloaded file saved under such a name writes to the device instead. Trailing spaces and dots are ignored
# by Windows too ("CON .txt").
WINDOWS_DEVICE_NAMES: Final[frozenset[str]] = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"{port}{n}" for port in ("COM", "LPT") for n in (*"0123456789", "\u00b9", "\u00b2", "\u00b3")})
_TOKEN = r"[a-z0-9][a-z0-9!#$&^_.+-]*"
_MIME_RE = re.compile(rf"^{_TOKEN}/{_TOKEN}$")


@dataclass(frozen=True)
class UploadLimits:
    """The allow-list, per-kind size limits, the overall maximum and the daily quota (bytes)."""

    types: Mapping[Kind, frozenset[str]]
    max_size: Mapping[Kind, int]
    max_file_size: int
    daily_quota: int

    @property
    def announced_max_size(self) -> int:
        """What the service's disco info says: no file of any allowed kind can be larger."""
        allowed = [self.max_size[kind] for kind in KINDS if self.types.get(kind)]
        return min(self.max_file_size, max(allowed, default=0))

    def kind_of(self, content_type: str) -> Kind | None:
        return next((kind for kind in KINDS if content_type in self.types.get(kind, ())), None)


@dataclass(frozen=True)
class UploadDecision:
    """`reason` is None when allowed; `message` is safe to show to the person."""

    reason: Reason | None
    message: str
    kind: Kind | None = None
    max_size: int | None = None  # set with file_too_large

    @property
    def allowed(self) -> bool:
        return self.reason is None


def normalize_content_type(value: str | None) -> str | None:
    """'Image/JPEG; charset=x' -> 'image/jpeg'; None when it is not a MIME type."""
    if not value:
        return None
    base = value.split(";", 1)[0].strip().lower()
    return base if _MIME_RE.match(base) else None


def parse_size(text: str | None) -> int | None:
    """A slot request's size attribute as a number of bytes; None unless it is a plain decimal integer."""
    if text is None or not _SIZE_TEXT_RE.fullmatch(text):
        return None
    return int(text)


def human_size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


def may_upload(*, is_member: bool, content_type: str | None, size: int, used_today: int,
               limits: UploadLimits) -> UploadDecision:
    """May a person (of a business or not) upload `size` bytes of `content_type` now?

    `used_today` counts the person's bytes of the last 24 hours: files stored and slots not used yet.
    """
    if not is_member:
        return UploadDecision("not_a_member", "Only people of a business may upload files.")
    if size <= 0:
        return UploadDecision("bad_request", "The file size must be a positive number of bytes.")
    normalized = normalize_content_type(content_type)
    kind = limits.kind_of(normalized) if normalized else None
    if kind is None:
        return UploadDecision("type_not_allowed", f"Files of type {content_type or '(none)'} are not allowed; "
                                                  "send a picture, a video or a document (PDF, office, text).")
    if size > min(limits.max_size[kind], limits.max_file_size):
        maximum = min(limits.max_size[kind], limits.max_file_size)
        return UploadDecision("file_too_large", f"File too large: the maximum for a {kind} is "
                                                f"{human_size(maximum)} ({maximum} bytes).", kind, maximum)
    if used_today + size > limits.daily_quota:
        return UploadDecision("quota_reached", f"Daily upload quota reached ({human_size(limits.daily_quota)} "
                                               "per 24 hours); try again later.", kind)
    return UploadDecision(None, "allowed", kind)


def disposition(content_type: str) -> Literal["inline", "attachment"]:
    """Inline only for pictures, video and audio; SVG and everything else is downloaded, never rendered."""
    normalized = normalize_content_type(content_type) or ""
    if normalized in NEVER_INLINE or normalized.split("/", 1)[0] not in INLINE_TOP_LEVEL:
        return "attachment"
    return "inline"


def is_windows_device_name(name: str) -> bool:
    """True for 'CON', 'nul.mp4', 'Lpt1.tar.gz', 'CON .txt': the part before the first dot names a device."""
    return name.split(".", 1)[0].rstrip(" .").upper() in WINDOWS_DEVICE_NAMES


def safe_filename(name: str | None) -> str:
    """A display name for the URL and Content-Disposition (never a disk path): no folders, no control or
    separator characters, no Windows device name, at most MAX_FILENAME_LENGTH characters with the extension
    kept. A safe name is kept as it is: safe_filename(safe_filename(x)) == safe_filename(x)."""
    text = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    if any(ch in text for ch in _SEPARATORS):
        text = "".join(ch for ch in text if ch not in _SEPARATORS)
    if not (text.isascii() and text.isprintable()):  # (printable ASCII has no control character, is NFC)
        text = unicodedata.normalize("NFC", text)
        text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
        text = unicodedata.normalize("NFC", text)  # again: a removed character may join two
    text = _shorten(_trim(text))
    if not text:
        return "file"
    if is_windows_device_name(text):
        text = _shorten("_" + text)  # "_CON", "_NUL.mp4": the extension stays, so clients still show the media
    return text


def _trim(text: str) -> str:
    """Without leading and trailing spaces and dots (Windows drops trailing ones; a leading dot hides)."""
    while (trimmed := text.strip().strip(".")) != text:
        text = trimmed
    return text


def _shorten(text: str) -> str:
    if len(text) <= MAX_FILENAME_LENGTH:
        return text
    stem, dot, ext = text.rpartition(".")
    if dot and 0 < len(ext) <= 16:
        head = _trim(stem[: MAX_FILENAME_LENGTH - len(ext) - 1])
        if head:
            return f"{head}.{ext}"
    return _trim(text[:MAX_FILENAME_LENGTH])
