"""Rules on the people of a business: names, JIDs, the last owner."""

from __future__ import annotations

import re
import secrets
import stringprep
import unicodedata

from .roles import Role

MAX_DISPLAY_NAME = 200
_LOCALPART_FORBIDDEN = set('"&\'/:<>@ ')


def validate_display_name(value: object) -> str | None:
    """The cleaned name, or None when it is unusable (empty, too long, control characters)."""
    if not isinstance(value, str):
        return None
    name = " ".join(value.split())
    if not name or len(name) > MAX_DISPLAY_NAME:
        return None
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        return None
    return name


_SASLPREP_PROHIBITED = (
    stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3, stringprep.in_table_c4,
    stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
    stringprep.in_table_c9, stringprep.in_table_a1,
)


def password_problem(password: str) -> str | None:
    """Why the server would refuse `password`, or None. Prosody 0.12 stores SASLprep(password) (RFC 4013,
    a stored string: no unassigned code points) and refuses a password that fails it; refusing it here
    gives the caller a 400 instead of the server's refusal."""
    mapped = "".join(" " if stringprep.in_table_c12(ch) else ch for ch in password
                     if not stringprep.in_table_b1(ch))
    prepared = unicodedata.normalize("NFKC", mapped)
    if not prepared:
        return "is empty after SASLprep (RFC 4013)"
    for ch in prepared:
        if any(table(ch) for table in _SASLPREP_PROHIBITED):
            return f"contains U+{ord(ch):04X}, which SASLprep (RFC 4013) prohibits in a password"
    right_to_left = any(stringprep.in_table_d1(ch) for ch in prepared)  # RFC 3454 §6
    if right_to_left and (any(stringprep.in_table_d2(ch) for ch in prepared)
                          or not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1]))):
        return "mixes right-to-left and left-to-right text in a way SASLprep (RFC 4013) prohibits"
    return None


def split_bare_jid(value: object) -> tuple[str, str] | None:
    """(localpart, domain) of a bare JID written in canonical lower case, or None when malformed."""
    if not isinstance(value, str) or value != value.strip() or value.count("@") != 1 or "/" in value:
        return None
    local, domain = value.split("@")
    if not local or len(local.encode()) > 1023 or any(ch in _LOCALPART_FORBIDDEN for ch in local):
        return None
    if local != local.lower() or any(unicodedata.category(ch).startswith(("C", "Z")) for ch in local):
        return None
    if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", domain) or ".." in domain:
        return None
    return local, domain


def localpart_for(display_name: str) -> str:
    """A readable, unguessable account name: 'carl-customer-3f9a1c' (never reused: mod_tombstones)."""
    ascii_name = unicodedata.normalize("NFKD", display_name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:24].strip("-") or "person"
    return f"{slug}-{secrets.token_hex(3)}"


def may_remove_membership(role: Role, owners_in_business: int) -> tuple[bool, str]:
    """A business always keeps at least one owner: they can read every conversation."""
    if role == "owner" and owners_in_business <= 1:
        return False, "a business must keep at least one owner; add another owner first"
    return True, "ok"


def may_change_role(old: Role, new: Role, owners_in_business: int) -> tuple[bool, str]:
    if old == "owner" and new != "owner" and owners_in_business <= 1:
        return False, "the last owner of a business cannot become staff or customer; add another owner first"
    return True, "ok"
