"""The whole ChatService on a running test server, with a state directory (database, keys) of its own."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from dotimely_chat.app import ChatService
from dotimely_chat.servers.ejabberd_cluster import EjabberdCluster
from dotimely_chat.servers.ejabberd_process import EjabberdProcess
from dotimely_chat.servers.prosody_process import ProsodyProcess

from .config import make_test_config


@asynccontextmanager
async def service_on(server: ProsodyProcess | EjabberdProcess | EjabberdCluster, folder: Path,
                     connect_timeout: float = 15) -> AsyncIterator[ChatService]:
    """Started and connected (on a cluster: its config, one stream per node); the same `folder` again gives the
    same database (a restart)."""
    own = make_test_config(folder / "service-state")
    config = dataclasses.replace(server.config, state_directory=own.state_directory, http=own.http, web=own.web)
    service = ChatService(config)
    await service.start()
    try:
        assert await service.component.wait_connected(connect_timeout), service.component.state
        yield service
    finally:
        await service.stop()
