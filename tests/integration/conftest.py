"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from dotimely_chat.app import ChatService

from .business import Api


@pytest.fixture
async def api(chat_service: ChatService) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(chat_service, http)
