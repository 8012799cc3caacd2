"""The whole service on a real ejabberd node (`ejabberd_chat_service`): what already works there."""

from __future__ import annotations

from dotimely_chat.app import ChatService


async def test_the_service_connects_its_component_to_ejabberd(ejabberd_chat_service: ChatService) -> None:
    assert ejabberd_chat_service.component.state.connected
