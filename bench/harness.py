"""What every benchmark starts with: a Prosody from the generated config and the whole service, on free
loopback ports in a temp dir, stopped again afterwards."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dotimely_chat.app import ChatService  # noqa: E402
from dotimely_chat.config import Config, parse_config  # noqa: E402
from dotimely_chat.servers.prosody_process import ProsodyProcess  # noqa: E402
from tests.support.config import config_document  # noqa: E402


@asynccontextmanager
async def running_service() -> AsyncIterator[tuple[Config, ProsodyProcess, ChatService]]:
    with tempfile.TemporaryDirectory(prefix="dotimely-bench-") as tmp:
        config = parse_config(config_document(Path(tmp) / "state"), Path(tmp))
        prosody = ProsodyProcess(config)
        await prosody.start()
        service = ChatService(config)
        await service.start()
        try:
            assert await service.component.wait_connected(20), service.component.state
            yield config, prosody, service
        finally:
            await service.stop()
            await prosody.stop()
