"""The Range header (http_upload.ranges), from a table and as properties over any header a client sends."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dotimely_chat.http_upload.ranges import MAX_RANGES, RangeAnswer, parse_range, part_heads

SIZE = 100


@pytest.mark.parametrize(("header", "kind", "parts"), [
    (None, "full", ()),
    ("bytes=0-9", "partial", ((0, 10),)),
    ("bytes=10-", "partial", ((10, 100),)),
    ("bytes=-5", "partial", ((95, 100),)),
    ("bytes=-500", "partial", ((0, 100),)),
    ("bytes=90-200", "partial", ((90, 100),)),
    ("bytes=99-99", "partial", ((99, 100),)),
    ("BYTES=0-0", "partial", ((0, 1),)),
    ("bytes=0-1,5-6", "partial", ((0, 2), (5, 7))),  # two ranges: multipart/byteranges
    ("bytes=0-1, 5-6", "partial", ((0, 2), (5, 7))),
    ("bytes=5-6,0-1", "partial", ((0, 2), (5, 7))),
    ("bytes=0-4,3-9", "partial", ((0, 10),)),  # overlapping: coalesced
    ("bytes=0-4,5-9", "partial", ((0, 10),)),  # adjacent: coalesced
    ("bytes=0-1,-2", "partial", ((0, 2), (98, 100))),
    ("bytes=0-1,200-300", "partial", ((0, 2),)),  # the unsatisfiable one is left out
    ("bytes=0-0,-0", "partial", ((0, 1),)),
    ("bytes=0-1,,5-6", "partial", ((0, 2), (5, 7))),  # empty list elements are allowed
    ("bytes=-0", "unsatisfiable", ()),  # a suffix of zero bytes selects nothing (RFC 9110 §14.1.3)
    ("bytes=100-", "unsatisfiable", ()),
    ("bytes=100-200,-0", "unsatisfiable", ()),
    ("bytes=5-2", "full", ()),  # invalid: ignored
    ("bytes=0-1,5-2", "full", ()),  # one invalid range makes the set invalid
    ("bytes=abc", "full", ()),
    ("bytes=", "full", ()),
    ("bytes=,", "full", ()),
    ("bytes=-", "full", ()),
    ("bytes=1-2-3", "full", ()),
    ("bytes=+1-2", "full", ()),
    ("bytes=0x1-2", "full", ()),
    ("bytes=1 -2", "full", ()),
    ("bytes=\u0661-\u0662", "full", ()),  # other scripts' digits
    ("bytes 0-1", "full", ()),
    ("items=0-1", "full", ()),  # an unknown unit must be ignored (RFC 9110 §14.2)
    ("bytes=" + ",".join(f"{n}-{n}" for n in range(0, 2 * (MAX_RANGES + 1), 2)), "full", ()),  # too many
])
def test_range_headers(header: str | None, kind: str, parts: tuple[tuple[int, int], ...]) -> None:
    assert parse_range(header, SIZE) == RangeAnswer(kind, parts)  # type: ignore[arg-type]


def test_multipart_framing() -> None:
    heads, tail = part_heads(((0, 2), (5, 7)), 100, "video/mp4", "B")
    assert heads == [b"--B\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-1/100\r\n\r\n",
                     b"\r\n--B\r\nContent-Type: video/mp4\r\nContent-Range: bytes 5-6/100\r\n\r\n"]
    assert tail == b"\r\n--B--\r\n"


@settings(max_examples=300, deadline=None)  # no wall-clock limit on a shared machine
@given(header=st.one_of(st.text(max_size=80), st.from_regex(r"\Abytes=[0-9 ,\-]{0,40}\Z")),
       size=st.integers(min_value=0, max_value=10**6))
def test_any_header_gives_parts_inside_the_file_in_order(header: str, size: int) -> None:
    answer = parse_range(header, size)
    assert answer.kind in ("full", "partial", "unsatisfiable")
    assert bool(answer.parts) is (answer.kind == "partial")
    previous_stop = -1
    for start, stop in answer.parts:
        assert 0 <= start < stop <= size
        assert start > previous_stop, "ascending, neither overlapping nor adjacent"
        previous_stop = stop


spec = st.one_of(
    st.tuples(st.integers(0, 300), st.one_of(st.none(), st.integers(0, 300))).filter(
        lambda t: t[1] is None or t[1] >= t[0]),
    st.tuples(st.none(), st.integers(0, 300)))


@settings(max_examples=300, deadline=None)  # no wall-clock limit on a shared machine
@given(specs=st.lists(spec, min_size=1, max_size=MAX_RANGES), size=st.integers(1, 250))
def test_valid_range_sets_select_exactly_the_bytes_asked_for(specs: list[tuple[int | None, int | None]],
                                                             size: int) -> None:
    """Against a model: the set of byte positions each spec selects (RFC 9110 §14.1.2)."""
    header = "bytes=" + ",".join(f"-{b}" if a is None else f"{a}-{'' if b is None else b}" for a, b in specs)
    wanted: set[int] = set()
    for first, last in specs:
        if first is None:
            wanted |= set(range(max(0, size - (last or 0)), size)) if last else set()
        else:
            wanted |= set(range(first, size if last is None else min(last + 1, size)))
    answer = parse_range(header, size)
    if not wanted:
        assert answer.kind == "unsatisfiable"
    else:
        assert answer.kind == "partial"
        assert {n for start, stop in answer.parts for n in range(start, stop)} == wanted
