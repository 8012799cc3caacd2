"""Where bench/status.py's cluster mode puts the rooms and their members on the nodes of an ejabberd cluster.

A trio's own node is the node its room of ours runs on: the component sends each room's stanzas through the
stream of the room's node (`component.node_links.room_node`, the room's JID hashed over the nodes), and ejabberd
starts a room's process on the node its first stanza reaches (../shared/EJABBERD.md §6). Layouts, for the
members' connections:
  - split: the three members of a trio connected to its own node (each node carries about half the rooms and
    their clients);
  - crossed: owner and staff on the trio's own node, the customer (the sender) on the next node.
The trio's bare room (the server's MUC alone: the reference) is made through the admin API of the same node, so
it runs there too: with "split" a room, its process and its members share a node, which is the best a cluster
can do; with "crossed" every message crosses Erlang distribution to the room and back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from dotimely_chat.servers.ejabberd_accounts import EjabberdAdminApi, describe_reply

log = logging.getLogger(__name__)

LAYOUTS = ("split", "crossed")
MEMBERS = ("owner", "staff", "customer")


def parse_layouts(text: str) -> list[str]:
    """`--layouts split,crossed`: names from LAYOUTS, in the order given."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LAYOUTS]
    if unknown or not names:
        raise ValueError(f"layouts are {', '.join(LAYOUTS)}; got {text!r}")
    return names


def member_node(layout: str, own: int, member: str, nodes: int) -> int:
    """The node `member` (owner, staff, customer) of a trio whose own node is `own` connects to; one node: 0."""
    if nodes == 1:
        return 0
    if layout == "crossed" and member == "customer":
        return (own + 1) % nodes
    return own


async def _call(api: EjabberdAdminApi, command: str, **arguments: Any) -> None:
    status, body = await api.call(command, **arguments)
    if status != 200 or body == 1:  # 1: the command's own failure code (ejabberd's rescode)
        raise RuntimeError(f"admin API {command} {arguments}: HTTP {status}, {describe_reply(body)}")


async def open_bare_rooms(api_urls: Sequence[str], muc_host: str, domain: str,
                          rooms: Sequence[tuple[str, int, Sequence[tuple[str, str]]]]) -> None:
    """Each of `rooms` (its localpart, its node's index, its (jid, affiliation)s) made and affiliated through the
    admin API of that node: members-only, persistent, non-anonymous, the rest from the generated `default_room_options` (MAM
    on, as in our rooms)."""
    apis = [EjabberdAdminApi(url) for url in api_urls]
    semaphore = asyncio.Semaphore(8)

    async def one(name: str, node: int, members: Sequence[tuple[str, str]]) -> None:
        api = apis[node]
        async with semaphore:
            await _call(api, "create_room_with_opts", name=name, service=muc_host, host=domain, options=[
                {"name": "members_only", "value": "true"}, {"name": "persistent", "value": "true"},
                {"name": "anonymous", "value": "false"}])
            for jid, affiliation in members:
                await _call(api, "set_room_affiliation", name=name, service=muc_host, jid=jid,
                            affiliation=affiliation)

    try:
        await asyncio.gather(*(one(name, node, members) for name, node, members in rooms))
    finally:
        for api in apis:
            await api.close()
    log.info("bench: %d bare rooms made through the admin API of %d nodes", len(rooms), len(apis))
