"""Helpers of the upload tests (the `upload_env` fixture: tests/integration/conftest.py): the upload service
on a running ChatService, a business with connected clients, slot requests and HTTPS requests trusting the
generated certificate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
from slixmpp import JID, ClientXMPP

from dotimely_chat.app import ChatService, tls_files
from dotimely_chat.servers.tls import LocalCA
from dotimely_chat.services.uploads.service import UploadService

WAIT = 10


def https_context(service: ChatService) -> ssl.SSLContext:
    """Trust exactly the demo CA that signed the upload host's certificate (verified TLS, as a client would)."""
    tls_files(service.config)
    return ssl.create_default_context(cafile=str(LocalCA.in_state(service.config.state_directory).certificate))


@dataclass
class Member:
    jid: str
    client: ClientXMPP


@dataclass
class UploadEnv:
    service: ChatService
    uploads: UploadService
    http: aiohttp.ClientSession
    business: dict[str, Any]
    owner: Member
    staff: Member
    customer: Member
    ssl: ssl.SSLContext

    @property
    def component(self) -> JID:
        return JID(self.service.config.component.jid)

    @property
    def base_url(self) -> str:
        return self.service.config.http.upload_public_url

    def limit(self, **changes: Any) -> None:
        """Change the upload limits (or slot lifetime) for this test."""
        settings = self.uploads.settings
        limit_keys = {"types", "max_size", "max_file_size", "daily_quota"}
        limits = dataclasses.replace(settings.limits, **{k: v for k, v in changes.items() if k in limit_keys})
        rest = {k: v for k, v in changes.items() if k not in limit_keys}
        self.uploads.settings = dataclasses.replace(settings, limits=limits, **rest)

    async def slot(self, member: Member, filename: str, size: int, content_type: str) -> tuple[str, str]:
        """(URL, bearer token) of a new slot, asked over XMPP."""
        iq = await member.client.plugin["xep_0363"].request_slot(self.component, filename, size, content_type,
                                                                 timeout=WAIT)
        slot = iq["http_upload_slot"]
        headers = {h["name"]: h["value"] for h in slot["put"]["headers"]}
        assert slot["put"]["url"] == slot["get"]["url"]
        return slot["put"]["url"], headers["Authorization"].removeprefix("Bearer ")

    async def put(self, url: str, token: str | None, data: Any, content_type: str,
                  headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        sent = {"Content-Type": content_type, **({"Authorization": f"Bearer {token}"} if token else {}),
                **(headers or {})}
        async with self.http.put(url, data=data, headers=sent, ssl=self.ssl) as response:
            body = await response.json() if response.content_type == "application/json" else {}
            return response.status, body

    async def upload(self, member: Member, filename: str, data: bytes, content_type: str) -> str:
        url, token = await self.slot(member, filename, len(data), content_type)
        status, body = await self.put(url, token, data, content_type)
        assert status == 201, body
        return url


async def raw_request(env: UploadEnv, head: bytes, body: bytes = b"", idle: float = 0.5) -> bytes:
    """Send bytes as they are (no client-side normalisation of the path); read the answer until the server
    closes or stays silent for `idle` seconds after answering."""
    listen = env.service.config.http.upload_listen
    reader, writer = await asyncio.open_connection(listen.host, listen.port, ssl=env.ssl,
                                                   server_hostname=listen.host)
    answer = b""
    try:
        writer.write(head + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), WAIT)
        while True:
            more = await asyncio.wait_for(reader.read(65536), idle)
            if not more:
                break
            answer += more
    except (TimeoutError, ConnectionResetError):
        pass
    finally:
        writer.close()
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])

