"""Rules of the web page: who may get a login link, what a link or a browser session is worth, and what a
person sees in the page's conversations list and Start New. Standard library only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from .contacts import may_chat_one_to_one, may_find
from .roles import Role

TOKEN_BYTES = 32  # 256 random bits for login links and session cookies
COOKIE_NAME = "dotimely_session"


class LinkState(Enum):
    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


# What the person reads on the page for each refused link (never a retry loop).
LINK_PAGES: dict[LinkState, tuple[str, str]] = {
    LinkState.USED: ("This login link was already used",
                     "Each link opens the chat once. Go back to DoTimely and open the chat again from there."),
    LinkState.EXPIRED: ("This login link has expired",
                        "Links work for a short time only. Go back to DoTimely and open the chat again."),
    LinkState.UNKNOWN: ("This login link is not valid",
                        "The link is incomplete or wrong. Go back to DoTimely and open the chat from there."),
}
NO_ACCESS_PAGE = ("You no longer have access to this chat",
                  "You are not a member of this business any more. Ask the business if you think this is wrong.")
SIGNED_OUT_PAGE = ("Please open the chat from DoTimely",
                   "Your chat session has ended or was never started. Open the chat again from the DoTimely app.")


def link_state(found: bool, expires_at: dt.datetime | None, used_at: dt.datetime | None,
               now: dt.datetime) -> LinkState:
    """A link works once, before it expires."""
    if not found or expires_at is None:
        return LinkState.UNKNOWN
    if used_at is not None:
        return LinkState.USED
    if now >= expires_at:
        return LinkState.EXPIRED
    return LinkState.VALID


def session_valid(expires_at: dt.datetime | None, now: dt.datetime, still_member: bool) -> bool:
    """A session lasts its lifetime and only while the person still belongs to the business."""
    return expires_at is not None and now < expires_at and still_member


def cookie_secure(public_url: str) -> bool:
    """Secure cookies on https, and on http://localhost (browsers treat loopback names as secure contexts)."""
    scheme, _, rest = public_url.partition("://")
    host = rest.split("/", 1)[0].rsplit(":", 1)[0].lower()
    return scheme == "https" or host == "localhost" or host.endswith(".localhost")


@dataclass(frozen=True)
class Peer:
    """Someone of the same business, as the viewer may see them."""

    jid: str
    name: str
    role: Role


def one_to_one_peers(viewer_jid: str, viewer_role: Role, people: Iterable[Peer]) -> list[Peer]:
    """The one-to-one chats of the list: owners have everyone, staff and customers the owners."""
    return sorted((p for p in people if p.jid != viewer_jid and may_chat_one_to_one(viewer_role, p.role).allowed),
                  key=lambda p: p.name.lower())


def search_hits(viewer_jid: str, viewer_role: Role, people: Iterable[Peer]) -> list[Peer]:
    """Start New → search: who the viewer may find (an owner everyone, staff and customers the owners)."""
    return [p for p in people if p.jid != viewer_jid and may_find(viewer_role, p.role)]


StartNewMode = Literal["people", "appointments"]


def start_new_mode(role: Role) -> StartNewMode:
    """Owners start one-to-one chats with people; staff and customers start rooms from appointments."""
    return "people" if role == "owner" else "appointments"


def audiences_offered(role: Role) -> tuple[str, ...]:
    """Staff choose who is in the room; a customer's or an owner's room has everyone."""
    return ("everyone", "owner") if role == "staff" else ("everyone",)
