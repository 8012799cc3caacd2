"""The whole service on a real ejabberd node (`ejabberd_chat_service`): what already works there."""

from __future__ import annotations

import pytest

from dotimely_chat.app import ChatService
from dotimely_chat.component.link import PRIVILEGES_WAIT_SECONDS

from ..support.waiting import eventually


async def test_the_service_connects_its_component_to_ejabberd(ejabberd_chat_service: ChatService) -> None:
    assert ejabberd_chat_service.component.state.connected


async def test_the_link_reads_ejabberds_privilege_1_and_does_not_wait_for_2(
        ejabberd_chat_service: ChatService, caplog: pytest.LogCaptureFixture) -> None:
    component = ejabberd_chat_service.component

    async def resynchronised() -> bool:
        return component.state.resyncs_completed >= 1

    await eventually(resynchronised, PRIVILEGES_WAIT_SECONDS - 1)  # the wait for privilege:2 would take 5 s
    assert component.privileges is not None and component.privileges.version == 1
    assert component.privileges.accesses == {"roster": "both", "message": "outgoing",
                                             "presence": "managed_entity"}
    assert "advertised no XEP-0356 privileges" not in caplog.text
