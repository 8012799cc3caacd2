"""The component's link to the server as the tests wait on it (pass these to `eventually`)."""

from __future__ import annotations

from dotimely_chat.app import ChatService


async def not_connected(service: ChatService) -> bool:
    return not service.component.state.connected


async def resynced(service: ChatService, connections: int) -> bool:
    """The link has come up `connections` times and finished the resync after each."""
    state = service.component.state
    return state.connections >= connections and state.resyncs_completed >= connections
