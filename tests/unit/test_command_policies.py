"""Which ad-hoc commands a person is offered, from a table."""

from __future__ import annotations

import pytest

from dotimely_chat.component import export_command, message_status, new_conversation, start_chat
from dotimely_chat.policies.commands import COMMAND_ROLES, command_listed_for

CASES = [
    ("new-conversation", {"owner"}, True), ("new-conversation", {"staff"}, False),
    ("new-conversation", {"customer"}, False), ("new-conversation", {"staff", "owner"}, True),
    ("export", {"owner"}, True), ("export", {"staff", "customer"}, False),
    ("start-chat", {"owner"}, True), ("start-chat", {"staff"}, True), ("start-chat", {"customer"}, True),
    ("message-status", {"customer"}, True), ("message-status", set(), False),
    ("start-chat", set(), False), ("no-such-command", {"owner"}, False),
]


@pytest.mark.parametrize(("node", "roles", "listed"), CASES)
def test_commands_are_offered_by_role(node: str, roles: set[str], listed: bool) -> None:
    assert command_listed_for(node, roles) is listed  # type: ignore[arg-type]


def test_every_registered_command_has_roles() -> None:
    nodes = {module.NODE for module in (export_command, message_status, new_conversation, start_chat)}
    assert nodes == set(COMMAND_ROLES)
