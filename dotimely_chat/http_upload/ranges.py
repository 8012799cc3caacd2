"""The Range header of a GET (RFC 9110 §14.1-14.2), decided against the file's size (standard library only).

What a client sends is outside input: anything that is not a valid `bytes` range set is ignored (a 200
with the whole file, as §14.2 allows for an invalid set and requires for an unknown unit). A valid set is
answered with the satisfiable ranges (one part: a plain 206; several: multipart/byteranges), overlapping or
adjacent ones merged (§15.3.7.2 allows coalescing); 416 only when none is satisfiable — a suffix of
length 0 (`bytes=-0`) or a first byte at or past the end. Sets of more than MAX_RANGES are ignored: many
small parts cost the server far more than the file (§14.2 lets a server ignore them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MAX_RANGES = 16
_SPEC_RE = re.compile(r"([0-9]+)-([0-9]*)|-([0-9]+)")
_OWS = " \t"


@dataclass(frozen=True)
class RangeAnswer:
    """`full`: 200 with the whole file; `partial`: 206 with `parts` ((start, stop) with stop exclusive,
    ascending, not overlapping nor adjacent); `unsatisfiable`: 416 with `Content-Range: bytes */size`."""

    kind: Literal["full", "partial", "unsatisfiable"]
    parts: tuple[tuple[int, int], ...] = ()

    @property
    def multipart(self) -> bool:
        return len(self.parts) > 1


FULL = RangeAnswer("full")
UNSATISFIABLE = RangeAnswer("unsatisfiable")


def parse_range(header: str | None, size: int) -> RangeAnswer:
    """The answer to `Range: <header>` for a file of `size` bytes."""
    if header is None:
        return FULL
    unit, eq, range_set = header.partition("=")
    if not eq or unit.lower() != "bytes":  # no unit, or one we do not know: ignored
        return FULL
    specs = [spec.strip(_OWS) for spec in range_set.split(",")]
    specs = [spec for spec in specs if spec]  # a list may hold empty elements (RFC 9110 §5.6.1)
    if not specs or len(specs) > MAX_RANGES:
        return FULL
    wanted: list[tuple[int, int]] = []
    for spec in specs:
        match = _SPEC_RE.fullmatch(spec)
        if match is None:
            return FULL
        first, last, suffix = match.groups()
        if suffix is not None:
            length = int(suffix)
            if length > 0 and size > 0:  # a suffix of 0 bytes selects nothing
                wanted.append((max(0, size - length), size))
            continue
        start = int(first)
        if last and int(last) < start:  # an invalid range makes the whole set invalid
            return FULL
        if start < size:
            wanted.append((start, size if not last else min(int(last) + 1, size)))
    if not wanted:
        return UNSATISFIABLE
    return RangeAnswer("partial", _merged(wanted))


def _merged(parts: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(parts):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return tuple(merged)


def content_range(start: int, stop: int, size: int) -> str:
    return f"bytes {start}-{stop - 1}/{size}"


def part_heads(parts: tuple[tuple[int, int], ...], size: int, content_type: str, boundary: str
               ) -> tuple[list[bytes], bytes]:
    """The multipart/byteranges framing: the bytes before each part's data, and the closing delimiter."""
    heads = [(b"\r\n" if index else b"") + (f"--{boundary}\r\nContent-Type: {content_type}\r\n"
                                            f"Content-Range: {content_range(start, stop, size)}\r\n\r\n").encode()
             for index, (start, stop) in enumerate(parts)]
    return heads, f"\r\n--{boundary}--\r\n".encode()
