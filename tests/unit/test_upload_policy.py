"""Upload rules (policies.uploads), from tables: who may upload what, how big, how often; how it is shown."""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dotimely_chat.policies.uploads import (
    MAX_FILENAME_LENGTH,
    REASONS,
    UploadLimits,
    disposition,
    human_size,
    is_windows_device_name,
    may_upload,
    normalize_content_type,
    parse_size,
    safe_filename,
)

MiB = 1024**2
LIMITS = UploadLimits(
    types={"picture": frozenset({"image/jpeg", "image/png", "image/heic"}),
           "video": frozenset({"video/mp4", "video/quicktime"}),
           "document": frozenset({"application/pdf", "text/plain"})},
    max_size={"picture": 20 * MiB, "video": 100 * MiB, "document": 25 * MiB},
    max_file_size=100 * MiB, daily_quota=200 * MiB)


@pytest.mark.parametrize(("member", "ctype", "size", "used", "reason", "kind", "max_size"), [
    (True, "image/jpeg", 3 * MiB, 0, None, "picture", None),
    (True, "IMAGE/JPEG; charset=binary", 3 * MiB, 0, None, "picture", None),
    (True, "image/heic", 20 * MiB, 0, None, "picture", None),
    (True, "image/heic", 20 * MiB + 1, 0, "file_too_large", "picture", 20 * MiB),
    (True, "video/quicktime", 100 * MiB, 0, None, "video", None),
    (True, "video/mp4", 100 * MiB + 1, 0, "file_too_large", "video", 100 * MiB),
    (True, "application/pdf", 25 * MiB + 1, 0, "file_too_large", "document", 25 * MiB),
    (True, "text/plain", 10, 0, None, "document", None),
    (True, "image/svg+xml", 10, 0, "type_not_allowed", None, None),
    (True, "application/x-msdownload", 10, 0, "type_not_allowed", None, None),
    (True, "text/html", 10, 0, "type_not_allowed", None, None),
    (True, None, 10, 0, "type_not_allowed", None, None),
    (True, "not a type", 10, 0, "type_not_allowed", None, None),
    (True, "image/jpeg", 0, 0, "bad_request", None, None),
    (True, "image/jpeg", -5, 0, "bad_request", None, None),
    (True, "image/jpeg", 10 * MiB, 190 * MiB, None, "picture", None),
    (True, "image/jpeg", 10 * MiB + 1, 190 * MiB, "quota_reached", "picture", None),
    (True, "image/jpeg", 1, 200 * MiB, "quota_reached", "picture", None),
    (False, "image/jpeg", 1, 0, "not_a_member", None, None),
    (False, "application/x-msdownload", 10**12, 10**12, "not_a_member", None, None),
])
def test_may_upload(member: bool, ctype: str | None, size: int, used: int, reason: str | None,
                    kind: str | None, max_size: int | None) -> None:
    decision = may_upload(is_member=member, content_type=ctype, size=size, used_today=used, limits=LIMITS)
    assert (decision.reason, decision.kind, decision.max_size) == (reason, kind, max_size)
    assert decision.allowed is (reason is None)
    assert decision.message


def test_a_refusal_for_size_names_the_maximum() -> None:
    decision = may_upload(is_member=True, content_type="video/mp4", size=300 * MiB, used_today=0, limits=LIMITS)
    assert "100 MiB" in decision.message and "video" in decision.message


def test_the_overall_maximum_caps_every_kind() -> None:
    capped = UploadLimits(LIMITS.types, LIMITS.max_size, max_file_size=10 * MiB, daily_quota=LIMITS.daily_quota)
    decision = may_upload(is_member=True, content_type="video/mp4", size=11 * MiB, used_today=0, limits=capped)
    assert (decision.reason, decision.max_size) == ("file_too_large", 10 * MiB)
    assert capped.announced_max_size == 10 * MiB


@pytest.mark.parametrize(("types", "expected"), [
    (LIMITS.types, 100 * MiB),
    ({"picture": frozenset({"image/png"}), "video": frozenset(), "document": frozenset({"text/plain"})}, 25 * MiB),
    ({"picture": frozenset(), "video": frozenset(), "document": frozenset()}, 0),
])
def test_announced_maximum_is_the_largest_allowed_kind(types: dict, expected: int) -> None:
    assert UploadLimits(types, LIMITS.max_size, 100 * MiB, 1).announced_max_size == expected


@pytest.mark.parametrize(("ctype", "expected"), [
    ("image/jpeg", "inline"), ("image/png", "inline"), ("video/mp4", "inline"), ("audio/ogg", "inline"),
    ("Image/GIF", "inline"),
    ("image/svg+xml", "attachment"), ("IMAGE/SVG+XML; charset=utf-8", "attachment"),
    ("application/pdf", "attachment"), ("text/plain", "attachment"), ("text/html", "attachment"),
    ("application/octet-stream", "attachment"), ("", "attachment"), ("garbage", "attachment"),
])
def test_only_pictures_video_and_audio_are_inline(ctype: str, expected: str) -> None:
    assert disposition(ctype) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("image/jpeg", "image/jpeg"), (" Image/JPEG ; q=1", "image/jpeg"), ("text/plain;charset=utf-8", "text/plain"),
    ("", None), (None, None), ("image", None), ("image/", None), ("/jpeg", None), ("a/b/c", None),
    ("image/jp eg", None), ("image/jpeg\r\nX-Evil: 1", None),
])
def test_content_types_are_normalised_or_refused(value: str | None, expected: str | None) -> None:
    assert normalize_content_type(value) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("photo.jpg", "photo.jpg"),
    ("../../etc/passwd", "passwd"),
    ("..\\..\\boot.ini", "boot.ini"),
    ("/abs/path/report.pdf", "report.pdf"),
    ("..", "file"), ("", "file"), (None, "file"), ("   ", "file"),
    ("evil\u202egpj.exe", "evilgpj.exe"),  # right-to-left override removed
    ("a\x00b\nc.txt", "abc.txt"),
    ('quote"d<name>.pdf', "quotedname.pdf"),
    ("Café Ünïcödé.png", "Café Ünïcödé.png"),
    ("x" * 300 + ".jpeg", "x" * 115 + ".jpeg"),
    ("y" * 300, "y" * 120),
    # Windows device names, whatever the case or extension (Windows opens the device, not a file)
    ("CON", "_CON"), ("NUL.mp4", "_NUL.mp4"), ("LPT1", "_LPT1"), ("con.txt", "_con.txt"), ("COM1", "_COM1"),
    ("AUX", "_AUX"), ("PRN", "_PRN"), ("nul", "_nul"), ("Lpt9.tar.gz", "_Lpt9.tar.gz"),
    ("COM\u00b9.png", "_COM\u00b9.png"),
    ("CON .txt", "_CON .txt"), ("aux.", "_aux"), ("../CON", "_CON"), ("C:\\x\\con.txt", "_con.txt"),
    ("CON" + " " * 117 + "a.txt", "_CON.txt"),  # shortened to "CON.txt" first
    ("CONSOLE.txt", "CONSOLE.txt"), ("COM10", "COM10"), ("conx.txt", "conx.txt"), ("_CON", "_CON"),
])
def test_file_names_are_made_safe_and_keep_their_extension(name: str | None, expected: str) -> None:
    assert safe_filename(name) == expected


@pytest.mark.parametrize(("size", "text"), [(5, "5 bytes"), (2048, "2 KiB"), (int(1.5 * MiB), "1.5 MiB"),
                                            (100 * MiB, "100 MiB"), (3 * 1024**3, "3 GiB")])
def test_sizes_are_shown_in_binary_units(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("16", 16), ("0", 0), ("016", 16), ("104857600", 104857600), ("9" * 20, int("9" * 20)),
    ("+16", None), (" 16", None), ("16 ", None), ("1_6", None), ("\u0661\u0666", None), ("\uff11\uff16", None),
    ("-16", None), ("0x10", None), ("1e3", None), ("16.0", None), ("", None), (None, None), ("9" * 21, None),
])
def test_a_slot_size_is_a_plain_decimal_integer(text: str | None, expected: int | None) -> None:
    assert parse_size(text) == expected


# ------------------------------------------------------------------------------- properties (hypothesis)
PROPERTY = settings(max_examples=400, deadline=None)  # no wall-clock limit on a shared machine
hostile_names = st.one_of(
    st.none(),
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from(list("./\\ \t:\"<>|*?\x00\u202e\u200bCONULPTAXRMaux1239\u00b9.é\u0301")),
            max_size=40),
    st.builds(lambda device, ext, case: (device.lower() if case else device) + ext,
              st.sampled_from(["CON", "PRN", "AUX", "NUL", "COM1", "LPT9", "COM\u00b2"]),
              st.sampled_from(["", ".txt", ".mp4", ".tar.gz", " .png", "."]), st.booleans()),
)


@PROPERTY
@given(hostile_names)
@example("e\u200b\u0301")  # a removed character between a letter and its accent
@example("CON" + " " * 117 + "a.txt")
def test_any_file_name_becomes_a_safe_one_that_stays_as_it_is(name: str | None) -> None:
    safe = safe_filename(name)
    assert safe and len(safe) <= MAX_FILENAME_LENGTH
    assert not any(ch in safe for ch in '/\\"<>|*?:') and not is_windows_device_name(safe)
    assert all(unicodedata.category(ch)[0] != "C" for ch in safe)
    assert safe == safe.strip() and not safe.startswith(".") and not safe.endswith(".")
    assert unicodedata.is_normalized("NFC", safe)
    assert safe_filename(safe) == safe


@PROPERTY
@given(st.one_of(st.text(max_size=30), st.integers(min_value=0, max_value=10**20 - 1).map(str)))
def test_only_ascii_digits_are_a_size(text: str) -> None:
    size = parse_size(text)
    if text and len(text) <= 20 and all(ch in string.digits for ch in text):
        assert size == int(text)
    else:
        assert size is None


@PROPERTY
@given(st.one_of(st.none(), st.text(max_size=60),
                 st.from_regex(r"\A[ A-Za-z0-9/+.;=\r\n-]{0,40}\Z")))
def test_a_content_type_is_a_lower_case_mime_type_or_nothing(value: str | None) -> None:
    normalized = normalize_content_type(value)
    if normalized is not None:
        assert normalized == normalized.lower() and normalized.count("/") == 1
        assert not any(ch.isspace() or ch in ";\r\n" for ch in normalized)
        assert normalize_content_type(normalized) == normalized


@PROPERTY
@given(member=st.booleans(), ctype=st.one_of(st.none(), st.text(max_size=40),
                                             st.sampled_from(["image/jpeg", "video/mp4", "application/pdf",
                                                              "IMAGE/PNG; x=1", "text/html"])),
       size=st.integers(min_value=-10, max_value=300 * MiB), used=st.integers(min_value=0, max_value=300 * MiB))
def test_a_granted_slot_is_always_within_the_rules(member: bool, ctype: str | None, size: int, used: int) -> None:
    decision = may_upload(is_member=member, content_type=ctype, size=size, used_today=used, limits=LIMITS)
    assert decision.message and (decision.reason is None or decision.reason in REASONS)
    if decision.allowed:
        normalized = normalize_content_type(ctype)
        assert member and size > 0 and normalized is not None and decision.kind is not None
        assert normalized in LIMITS.types[decision.kind]
        assert size <= min(LIMITS.max_size[decision.kind], LIMITS.max_file_size)
        assert used + size <= LIMITS.daily_quota
