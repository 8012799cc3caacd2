"""The list of ad-hoc commands (disco#items on node http://jabber.org/protocol/commands), per requester.

Protocol trap (slixmpp 1.17, xep_0050): the plugin keeps the commands' disco items in xep_0030's static
store and empties that node at every `session_bind`, i.e. at every (re)connection of the component. The
commands are registered once at start, before the first connection, so the list clients get from
"Execute command" was always empty. We answer the node ourselves from the plugin's command table
(`adhoc.commands`, which the plugin never clears), filtered by what the requester may run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from slixmpp import JID
from slixmpp.plugins.xep_0030.stanza import DiscoItems
from slixmpp.plugins.xep_0050.stanza import Command

from ..policies.commands import command_listed_for
from ..policies.roles import Role
from .link import ChatComponent

log = logging.getLogger(__name__)

RolesOf = Callable[[str], Awaitable[Collection[Role]]]


def list_commands_per_requester(component: ChatComponent, roles_of: RolesOf) -> None:
    """Answer disco#items on the commands node of the component from the registered commands."""
    adhoc = component.plugin["xep_0050"]
    own = JID(component.boundjid.full)

    async def items(jid: JID | None, node: str | None, ifrom: JID | None, _args: Any) -> DiscoItems:
        requester = JID(ifrom).bare if ifrom else ""
        roles = await roles_of(requester) if requester else ()
        answer = DiscoItems()
        answer["node"] = Command.namespace
        for (command_jid, command_node), (name, *_rest) in sorted(adhoc.commands.items()):
            if command_jid == own.full and command_node and command_listed_for(command_node, roles):
                answer.add_item(JID(command_jid), node=command_node, name=name)
        log.debug("Commands listed for %s (roles %s): %d", requester, sorted(roles), len(answer["items"]))
        return answer

    component.plugin["xep_0030"].api.register(items, "get_items", jid=own, node=Command.namespace)
