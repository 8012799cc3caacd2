"""One component per JID on ejabberd (servers/ejabberd_component_check.py): 23.01 takes a second connection
of a connected component JID, so the component asks our node module (mod_dotimely_routes) first. The
refusal of a whole second `dotimely-chat component` is in test_up_faults.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dotimely_chat.app import ChatService
from dotimely_chat.servers.ejabberd_accounts import EjabberdAdminApi
from dotimely_chat.servers.ejabberd_component_check import COMMAND, other_component
from dotimely_chat.servers.ejabberd_process import EjabberdProcess

from ..support.config import make_test_config
from ..support.service import service_on


async def test_a_connected_component_jid_is_reported_and_a_free_one_is_not(
    ejabberd_server: EjabberdProcess, tmp_path: Path
) -> None:
    api = EjabberdAdminApi(ejabberd_server.api_url)
    try:
        config = ejabberd_server.config
        async with service_on(ejabberd_server, tmp_path) as service:
            assert service.component.link_up
            status, body = await api.call(COMMAND, host=config.component.jid.upper())  # JIDs are nameprepped
            assert (status, body) == (200, {"connections": 1})
            reason = await other_component(api, config)
            assert reason is not None and "another component is already connected" in reason
            assert config.component.jid in reason
        assert await other_component(api, config) is None  # the one that stopped is no longer counted
        assert await api.call(COMMAND, host=f"other.{config.xmpp.domain}") == (200, {"connections": 0})
    finally:
        await api.close()


async def test_a_second_service_on_the_same_jid_does_not_connect_and_says_why(
    ejabberd_chat_service: ChatService, tmp_path: Path
) -> None:
    own = make_test_config(tmp_path / "second")  # a state and HTTP ports of its own, the same server and JID
    second = ChatService(dataclasses.replace(ejabberd_chat_service.config, state_directory=own.state_directory,
                                             http=own.http, web=own.web))
    try:
        await second.start()
        assert not await second.component.wait_connected(5)
        assert second.component.state.refused and "already connected" in second.component.state.refused
        assert ejabberd_chat_service.component.link_up
    finally:
        await second.stop()
