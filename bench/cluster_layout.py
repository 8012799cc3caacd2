"""Where bench/status.py's cluster mode puts the rooms and their members on the nodes of an ejabberd cluster.

Room i's own node is node i % N (two nodes: rooms alternate). Layouts, for the members' connections:
  - split: the three members of room i connected to its own node (each node carries the clients of half the rooms);
  - crossed: owner and staff on the room's own node, the customer (the sender) on the next node.
Bare rooms (the server's MUC alone: the reference) are made through the admin API of their own node, so each runs
there (ejabberd starts a room's process on the node that creates it, ../shared/EJABBERD.md §6): with "split" a
bare room, its process and its members share a node, which is the best a cluster can do; with "crossed" every
message crosses Erlang distribution to the room and back. Our rooms are opened by `POST …/conversations`: the
component creates them through its home stream, so they run on the first node whatever the layout (a product
property the figures show: the first node's CPU carries our rooms).
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


def room_node(room: int, nodes: int) -> int:
    """The node a room belongs to (its bare room's process, its owner's and staff's connections)."""
    return room % nodes


def member_node(layout: str, room: int, member: str, nodes: int) -> int:
    """The node `member` (owner, staff, customer) of room `room` connects to; one node: always 0."""
    own = room_node(room, nodes)
    if layout == "crossed" and member == "customer":
        return (own + 1) % nodes
    return own


async def _call(api: EjabberdAdminApi, command: str, **arguments: Any) -> None:
    status, body = await api.call(command, **arguments)
    if status != 200 or body == 1:  # 1: the command's own failure code (ejabberd's rescode)
        raise RuntimeError(f"admin API {command} {arguments}: HTTP {status}, {describe_reply(body)}")


async def open_bare_rooms(api_urls: Sequence[str], muc_host: str, domain: str,
                          rooms: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> None:
    """Room i of `rooms` (its localpart, its (jid, affiliation)s) made and affiliated through the admin API of its
    own node: members-only, persistent, non-anonymous, the rest from the generated `default_room_options` (MAM
    on, as in our rooms)."""
    apis = [EjabberdAdminApi(url) for url in api_urls]
    semaphore = asyncio.Semaphore(8)

    async def one(index: int, name: str, members: Sequence[tuple[str, str]]) -> None:
        api = apis[room_node(index, len(apis))]
        async with semaphore:
            await _call(api, "create_room_with_opts", name=name, service=muc_host, host=domain, options=[
                {"name": "members_only", "value": "true"}, {"name": "persistent", "value": "true"},
                {"name": "anonymous", "value": "false"}])
            for jid, affiliation in members:
                await _call(api, "set_room_affiliation", name=name, service=muc_host, jid=jid,
                            affiliation=affiliation)

    try:
        await asyncio.gather(*(one(i, name, members) for i, (name, members) in enumerate(rooms)))
    finally:
        for api in apis:
            await api.close()
    log.info("bench: %d bare rooms made through the admin API of %d nodes", len(rooms), len(apis))
