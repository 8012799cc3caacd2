"""When a member's client gets an XEP-0249 invitation to a room: only if it did not join from the bookmark.

Every member gets an XEP-0402 autojoin bookmark; clients that read bookmarks join by themselves (Gajim
about 10 s after login, and at once on a live bookmark notification; Conversations, profanity and Converse
at login). An invitation to a client that is already in the room pops a needless "join?" (Gajim) or
"/join to accept" (profanity), so a client is invited only when it is online, has not been in the room since
the bookmark was published, and the time to autojoin has passed:
- a client online when the bookmark is published: `AFTER_BOOKMARK_SECONDS` later (a live notification);
- a client that comes online afterwards: `AFTER_LOGIN_SECONDS` after it came online (autojoin at login).
Each client (full JID) is invited once per room. A client that never autojoins (Converse does not act on
a bookmark published while it is connected) gets its invitation after that wait. The wait for a member
lasts `PENDING_SECONDS` from the bookmark; nothing is stored for offline people (their clients read the
bookmark at login, and those that do not get the invitation after logging in within that time).
"""

from __future__ import annotations

from typing import Final

AFTER_BOOKMARK_SECONDS: Final = 10.0
AFTER_LOGIN_SECONDS: Final = 20.0
PENDING_SECONDS: Final = 7 * 24 * 3600.0


def invitation_due(bookmarked_at: float, online_since: float, after_bookmark: float = AFTER_BOOKMARK_SECONDS,
                   after_login: float = AFTER_LOGIN_SECONDS) -> float:
    """When to look whether one client joined (times on one clock, in seconds)."""
    return max(bookmarked_at + after_bookmark, online_since + after_login)


def should_invite(online: bool, was_in_room: bool, already_invited: bool, expired: bool) -> bool:
    """Invite a client that is online and neither joined nor was invited, while the member's wait lasts."""
    return online and not was_in_room and not already_invited and not expired
