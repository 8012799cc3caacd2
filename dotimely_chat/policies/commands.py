"""Which of the component's ad-hoc commands (XEP-0050) a person is offered.

A client's "Execute command" lists what the component answers on disco#items of the commands node; a
command that would only answer `forbidden` is left out of that list (each command still checks the role
itself when it runs: the list is a courtesy, not the access control).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from .roles import ROLES, Role

EVERY_MEMBER: Final[frozenset[Role]] = frozenset(ROLES)
OWNERS: Final[frozenset[Role]] = frozenset({"owner"})

# Command node -> the roles (in any business) that may run it.
COMMAND_ROLES: Final[dict[str, frozenset[Role]]] = {
    "new-conversation": OWNERS,   # Start New: owners start one-to-one chats
    "start-chat": EVERY_MEMBER,   # a chat about one of one's appointments (owners see all of theirs)
    "message-status": EVERY_MEMBER,
    "export": OWNERS,
}


def command_listed_for(node: str, roles: Collection[Role]) -> bool:
    """True when a person with `roles` (their roles over all their businesses) is offered `node`.
    People of no business are offered nothing; an unknown command is offered to nobody."""
    allowed = COMMAND_ROLES.get(node, frozenset())
    return any(role in allowed for role in roles)
