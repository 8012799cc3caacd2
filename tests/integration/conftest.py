"""Fixtures of the integration tests (the session Prosody, clients, the service and its API: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from dotimely_chat.app import ChatService

from ..support.business import Api, make_business
from ..support.clients import ClientFactory
from ..support.uploads import Member, UploadEnv, https_context


@pytest.fixture
async def upload_env(chat_service: ChatService, api: Api, xmpp_clients: ClientFactory
                     ) -> AsyncIterator[UploadEnv]:
    """The upload service on `chat_service`, a business of three with connected clients, verified HTTPS."""
    uploads = chat_service.uploads
    original = uploads.settings
    business = await make_business(api, customers=1, staff=1)
    members = []
    for key in ("owner", "staff0", "customer0"):
        person = business["people"][key]
        client = await xmpp_clients.connect(person["jid"], person["password"], "xep_0363")
        members.append(Member(person["jid"], client))
    context = https_context(chat_service)
    async with aiohttp.ClientSession() as http:
        yield UploadEnv(chat_service, uploads, http, business, *members, ssl=context)
    uploads.settings = original
