"""The demo's TLS as clients see it: Prosody's c2s STARTTLS and the upload host both verify against the
generated demo CA alone (what Gajim does once the CA is in the system's store), also for a state made by
an older version with its self-signed certificate."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from dotimely_chat.app import ChatService
from dotimely_chat.servers.prosody_config import ProsodyPaths
from dotimely_chat.servers.prosody_process import ProsodyProcess
from dotimely_chat.servers.tls import LocalCA

from ..support.certificates import old_self_signed_certificate
from ..support.config import DOMAIN

WAIT = 15
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"


def ca_context(state_directory: Path) -> ssl.SSLContext:
    """Only the demo CA as trust: no system store, no pinned server certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(LocalCA.in_state(state_directory).certificate))
    return context


async def starttls_peer(server: ProsodyProcess, context: ssl.SSLContext, hostname: str = DOMAIN) -> dict:
    """The peer certificate of Prosody's c2s port after STARTTLS (RFC 6120 §5), verified by `context`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.config.xmpp.client_port)
    try:
        writer.write(f"<?xml version='1.0'?><stream:stream to='{hostname}' xmlns='jabber:client' "
                     "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>".encode())
        features = await asyncio.wait_for(reader.readuntil(b"</stream:features>"), WAIT)
        assert TLS_NS.encode() in features
        writer.write(f"<starttls xmlns='{TLS_NS}'/>".encode())
        answer = b""
        while b"proceed" not in answer:
            answer += await asyncio.wait_for(reader.readuntil(b">"), WAIT)
        await asyncio.wait_for(writer.start_tls(context, server_hostname=hostname), WAIT)
        return writer.get_extra_info("peercert")  # type: ignore[no-any-return]
    finally:
        writer.close()


def subject_alt_names(peer: dict) -> set[tuple[str, str]]:
    return set(peer["subjectAltName"])


async def test_prosody_starttls_verifies_against_the_demo_ca_alone(prosody_server: ProsodyProcess) -> None:
    state = prosody_server.config.state_directory
    peer = await starttls_peer(prosody_server, ca_context(state))
    assert {("DNS", DOMAIN), ("DNS", f"*.{DOMAIN}"), ("DNS", f"chat.{DOMAIN}"), ("DNS", f"rooms.{DOMAIN}"),
            ("DNS", "localhost"), ("IP Address", "127.0.0.1")} <= subject_alt_names(peer)
    other = ssl.create_default_context()  # the system's store, without the demo CA: refused
    with pytest.raises(ssl.SSLCertVerificationError):
        await starttls_peer(prosody_server, other)


async def test_the_upload_host_verifies_against_the_same_ca_alone(chat_service: ChatService) -> None:
    config = chat_service.config
    listen = config.http.upload_listen
    for hostname in ("127.0.0.1", "localhost"):
        _, writer = await asyncio.open_connection(listen.host, listen.port, ssl=ca_context(config.state_directory),
                                                  server_hostname=hostname)
        peer = writer.get_extra_info("peercert")
        writer.close()
        assert ("IP Address", "127.0.0.1") in subject_alt_names(peer)
        assert ("DNS", config.component.jid) in subject_alt_names(peer)


async def test_a_state_made_by_an_older_version_gets_certificates_the_ca_vouches_for(
    tmp_path: Path, prosody_factory: Callable[..., Awaitable[ProsodyProcess]]
) -> None:
    """Older versions left one self-signed certificate in <state>/prosody/certs and no CA."""
    paths = ProsodyPaths.in_state(tmp_path / "state0")  # the state directory prosody_factory uses first
    old_self_signed_certificate(paths.certificate, paths.private_key, DOMAIN)
    old = paths.certificate.read_bytes()
    server = await prosody_factory()
    assert server.paths == paths and paths.certificate.read_bytes() != old
    peer = await starttls_peer(server, ca_context(server.config.state_directory))
    assert ("DNS", DOMAIN) in subject_alt_names(peer)
