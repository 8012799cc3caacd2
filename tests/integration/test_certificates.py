"""The demo's TLS as clients see it, on Prosody and on ejabberd: the server's c2s STARTTLS and the upload
host both verify against the generated demo CA alone (what Gajim does once the CA is in the system's
store), also for a state made by an older version: its self-signed certificate is replaced, and the CA's
certificate a version before <state>/tls left in <state>/prosody/certs is moved there and served still."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509

from dotimely_chat.app import ChatService
from dotimely_chat.config import Config
from dotimely_chat.servers.ejabberd_process import EjabberdProcess
from dotimely_chat.servers.prosody_process import ProsodyProcess
from dotimely_chat.servers.tls import LocalCA, ServerCertificate, certificate_names, ensure_certificate

from ..support.certificates import old_self_signed_certificate
from ..support.config import DOMAIN

pytestmark = pytest.mark.servers("prosody", "ejabberd")

WAIT = 15
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"

Server = ProsodyProcess | EjabberdProcess


def ca_context(state_directory: Path) -> ssl.SSLContext:
    """Only the demo CA as trust: no system store, no pinned server certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(LocalCA.in_state(state_directory).certificate))
    return context


async def starttls_peer(server: Server, context: ssl.SSLContext, hostname: str = DOMAIN) -> dict:
    """The peer certificate of the server's c2s port after STARTTLS (RFC 6120 §5), verified by `context`."""
    reader, writer = await asyncio.open_connection(server.config.xmpp.client_interfaces[0],
                                                   server.config.xmpp.client_port)
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


def serial_of(pem_chain: bytes) -> int:
    """The serial number of the first certificate of a PEM chain."""
    return x509.load_pem_x509_certificates(pem_chain)[0].serial_number


def peer_serial(peer: dict) -> int:
    return int(peer["serialNumber"], 16)  # getpeercert() writes it in hex


async def test_starttls_verifies_against_the_demo_ca_alone(xmpp_server: Server) -> None:
    state = xmpp_server.config.state_directory
    peer = await starttls_peer(xmpp_server, ca_context(state))
    assert {("DNS", DOMAIN), ("DNS", f"*.{DOMAIN}"), ("DNS", f"chat.{DOMAIN}"), ("DNS", f"rooms.{DOMAIN}"),
            ("DNS", "localhost"), ("IP Address", "127.0.0.1")} <= subject_alt_names(peer)
    assert peer_serial(peer) == serial_of(ServerCertificate.in_state(state).certificate.read_bytes())
    other = ssl.create_default_context()  # the system's store, without the demo CA: refused
    with pytest.raises(ssl.SSLCertVerificationError):
        await starttls_peer(xmpp_server, other)


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
    xmpp_factory: Callable[..., Awaitable[Server]]
) -> None:
    """Versions before the demo CA left one self-signed certificate in <state>/prosody/certs and no CA."""
    planted: list[bytes] = []

    def self_signed(config: Config) -> None:
        older = ServerCertificate.of_older_versions(config.state_directory)
        old_self_signed_certificate(older.certificate, older.private_key, DOMAIN)
        planted.append(older.certificate.read_bytes())

    server = await xmpp_factory(before_start=self_signed)
    state = server.config.state_directory
    files = ServerCertificate.in_state(state)
    assert files.certificate.read_bytes() != planted[0]
    assert not ServerCertificate.of_older_versions(state).certificate.exists()  # moved, then replaced
    peer = await starttls_peer(server, ca_context(state))
    assert ("DNS", DOMAIN) in subject_alt_names(peer)
    assert peer_serial(peer) == serial_of(files.certificate.read_bytes())


async def test_the_certificate_a_version_before_state_tls_made_is_moved_and_served_still(
    xmpp_factory: Callable[..., Awaitable[Server]]
) -> None:
    """The version before <state>/tls kept the CA's certificate in <state>/prosody/certs: clients that
    pinned it, or trust the CA, see the same certificate after the upgrade."""
    planted: list[bytes] = []

    def signed_by_the_ca(config: Config) -> None:
        older = ServerCertificate.of_older_versions(config.state_directory)
        ensure_certificate(older.certificate, older.private_key, certificate_names(config),
                           LocalCA.in_state(config.state_directory))
        planted.append(older.certificate.read_bytes())

    server = await xmpp_factory(before_start=signed_by_the_ca)
    state = server.config.state_directory
    files = ServerCertificate.in_state(state)
    assert files.certificate.read_bytes() == planted[0]
    assert not ServerCertificate.of_older_versions(state).certificate.exists()
    peer = await starttls_peer(server, ca_context(state))
    assert peer_serial(peer) == serial_of(planted[0])
