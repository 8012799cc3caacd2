"""What outside text and times may be: XML 1.0 text (everything we get ends up in a stanza) and instants a
calendar can compute with. Standard library only.

XML 1.0 (§2.2) allows tab, LF, CR, U+0020–U+D7FF, U+E000–U+FFFD and U+10000–U+10FFFF. Anything else — the
other C0 controls, U+FFFE/U+FFFF, a lone surrogate (JSON's "\\ud800" decodes to one) — makes the stanza
not-well-formed, and Prosody 0.12 answers not-well-formed by closing the component's stream: one bad
character would cut the link for everyone (issue 16.1).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Final

_NOT_XML_CHAR: Final = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Times we accept from outside: wide enough for any booking or archive, narrow enough that adding a day,
# a duration or a time zone offset never leaves datetime's range (year 1 to 9999).
EARLIEST_YEAR: Final = 1970
LATEST_YEAR: Final = 9000


def first_non_xml_char(text: str) -> str | None:
    """The first character XML 1.0 text cannot carry, or None when `text` is fit for a stanza."""
    match = _NOT_XML_CHAR.search(text)
    return match.group() if match else None


def is_xml_text(text: str) -> bool:
    return _NOT_XML_CHAR.search(text) is None


def describe_char(char: str) -> str:
    """'U+0008' — for error messages (never echo the character itself)."""
    return f"U+{ord(char):04X}"


def non_xml_text_reason(text: str) -> str | None:
    """Why `text` cannot go into a stanza, or None when it can."""
    char = first_non_xml_char(text)
    if char is None:
        return None
    return f"contains {describe_char(char)}, a character XML cannot carry (control characters, U+FFFE/U+FFFF " \
           f"and lone surrogates are refused)"


def single_line_problem(text: str) -> str | None:
    """Why `text` cannot be a one-line value (an e-mail address, a phone number), or None: XML text with
    no control character at all (tab, newline, DEL and C1 included)."""
    reason = non_xml_text_reason(text)
    if reason:
        return reason
    for ch in text:
        if unicodedata.category(ch) == "Cc":
            return f"contains {describe_char(ch)}, a control character"
    return None


def is_plain_id(value: str, max_length: int) -> bool:
    """An id from outside (business, person, appointment): 1 to `max_length` characters, XML text, no
    control or format characters (they would be invisible in logs, room names and exports)."""
    if not value or len(value) > max_length or not is_xml_text(value):
        return False
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in value)


def within_calendar(moment: dt.datetime | dt.date) -> bool:
    """True when the year is one we compute with (EARLIEST_YEAR to LATEST_YEAR)."""
    return EARLIEST_YEAR <= moment.year <= LATEST_YEAR
