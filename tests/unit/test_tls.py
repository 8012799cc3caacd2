"""The demo's certificates (servers.tls): one local CA signs the server certificate that Prosody and the
upload host share; a real TLS handshake trusting only the CA file verifies every name."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from dotimely_chat.http_upload.server import server_ssl_context
from dotimely_chat.servers.tls import LocalCA, ensure_certificate

from ..support.certificates import old_self_signed_certificate

NAMES = ["dotimely.test", "*.dotimely.test", "chat.dotimely.test", "rooms.dotimely.test", "localhost",
         "127.0.0.1", "::1"]


def pair(tmp_path: Path) -> tuple[Path, Path, LocalCA]:
    return tmp_path / "prosody" / "certs" / "server.crt", tmp_path / "prosody" / "certs" / "server.key", \
        LocalCA.in_state(tmp_path)


async def handshake(cert: Path, key: Path, cafile: Path, server_hostname: str) -> dict:
    """A TLS server with the pair on loopback, and a client that trusts only `cafile`."""
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0,
                                        ssl=server_ssl_context(cert, key))
    port = server.sockets[0].getsockname()[1]
    try:
        context = ssl.create_default_context(cafile=str(cafile))
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=server_hostname)
        peer = writer.get_extra_info("peercert")
        writer.close()
        return peer  # type: ignore[no-any-return]
    finally:
        server.close()


@pytest.mark.parametrize("hostname", ["dotimely.test", "chat.dotimely.test", "rooms.dotimely.test",
                                      "localhost", "127.0.0.1"])
async def test_the_server_certificate_verifies_against_the_ca_alone(tmp_path: Path, hostname: str) -> None:
    cert, key, ca = pair(tmp_path)
    assert ensure_certificate(cert, key, NAMES, ca) is True
    peer = await handshake(cert, key, ca.certificate, hostname)
    assert dict(name[0] for name in peer["subject"])["commonName"] == "dotimely.test"


async def test_another_name_or_another_ca_is_refused(tmp_path: Path) -> None:
    cert, key, ca = pair(tmp_path)
    ensure_certificate(cert, key, NAMES, ca)
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(cert, key, ca.certificate, "example.com")
    other = LocalCA.in_state(tmp_path / "other")
    ensure_certificate(tmp_path / "o.crt", tmp_path / "o.key", NAMES, other)
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(cert, key, other.certificate, "dotimely.test")


def test_names_usages_and_constraints(tmp_path: Path) -> None:
    cert, key, ca = pair(tmp_path)
    ensure_certificate(cert, key, NAMES, ca)
    server, ca_copy = x509.load_pem_x509_certificates(cert.read_bytes())
    ca_cert = x509.load_pem_x509_certificate(ca.certificate.read_bytes())
    assert ca_copy == ca_cert, "the chain: server, then the CA"
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == NAMES[:5]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"),
                                                         ipaddress.ip_address("::1")]
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    server.verify_directly_issued_by(ca_cert)
    constraints = ca_cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    permitted = {str(t.value) for t in constraints.value.permitted_subtrees}
    assert permitted == {"dotimely.test", "chat.dotimely.test", "rooms.dotimely.test", "localhost",
                         "127.0.0.1/32", "::1/128"}
    assert oct(key.stat().st_mode & 0o777) == oct(ca.key.stat().st_mode & 0o777) == "0o600"
    assert subprocess.run(["openssl", "verify", "-CAfile", str(ca.certificate), str(cert)],
                          capture_output=True, check=False).returncode == 0


def test_a_second_run_keeps_everything(tmp_path: Path) -> None:
    cert, key, ca = pair(tmp_path)
    ensure_certificate(cert, key, NAMES, ca)
    before = [p.read_bytes() for p in (cert, key, ca.certificate, ca.key)]
    assert ensure_certificate(cert, key, NAMES, ca) is False
    assert [p.read_bytes() for p in (cert, key, ca.certificate, ca.key)] == before


async def test_a_state_of_an_older_version_gets_a_certificate_of_the_ca(tmp_path: Path) -> None:
    """Older versions made one self-signed certificate with the openssl command: it is replaced."""
    cert, key, ca = pair(tmp_path)
    old_self_signed_certificate(cert, key, "dotimely.test")
    assert not ca.certificate.exists()
    assert ensure_certificate(cert, key, NAMES, ca) is True
    await handshake(cert, key, ca.certificate, "chat.dotimely.test")


async def test_a_new_host_name_gets_a_new_certificate_and_if_need_be_a_new_ca(tmp_path: Path) -> None:
    cert, key, ca = pair(tmp_path)
    ensure_certificate(cert, key, NAMES, ca)
    first_ca = ca.certificate.read_bytes()
    assert ensure_certificate(cert, key, [*NAMES, "upload.dotimely.test"], ca) is True  # covered by the CA
    assert ca.certificate.read_bytes() == first_ca
    await handshake(cert, key, ca.certificate, "upload.dotimely.test")
    assert ensure_certificate(cert, key, [*NAMES, "files.example.com", "192.168.1.20"], ca) is True
    assert ca.certificate.read_bytes() != first_ca, "the old CA's constraints do not cover the new names"
    await handshake(cert, key, ca.certificate, "files.example.com")
    await handshake(cert, key, ca.certificate, "192.168.1.20")


def test_the_trust_command_installs_the_ca_for_update_ca_certificates(tmp_path: Path) -> None:
    cert, key, ca = pair(tmp_path)
    ensure_certificate(cert, key, NAMES, ca)
    command = ca.trust_command()
    name = ca.system_file_name()
    assert name.startswith("dotimely-demo-ca-") and name.endswith(".crt")
    assert command == (f"install -m 0644 {ca.certificate} /usr/local/share/ca-certificates/{name} "
                       "&& update-ca-certificates")
