"""Certificates for local use (the demo and the tests): one local CA signs the server certificate that
Prosody and the upload host share, so one command that trusts the CA system-wide makes both trusted.

Clients that check HTTPS against the system's trust store (Gajim's attachments, which never ask to accept a
certificate) refused the former self-signed certificate. The CA (`<state>/ca/`) is made once per state
directory; its name constraints limit it to the demo's own names (a copy of its key can sign nothing
else a client would believe). The server certificate (`<state>/tls/server.crt`, the chain of server and CA,
whichever server runs: Prosody, an ejabberd node, the upload host) is made again when it is not issued by
that CA (a state made by an older version, whose self-signed certificate is replaced), does not name every
host, or expires within 30 days. Older versions kept it in `<state>/prosody/certs`: it is moved from there.
Production sets its own certificates instead (README: http.tls_certificate/http.tls_key, Prosody's).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..config import Config

log = logging.getLogger(__name__)

CA_DAYS = 3650
SERVER_DAYS = 825  # what Apple's and others' rules accept for a server certificate
RENEW_BEFORE = dt.timedelta(days=30)
SYSTEM_CA_DIRECTORY = "/usr/local/share/ca-certificates"  # Debian's update-ca-certificates reads *.crt here

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class LocalCA:
    """The demo's certificate authority: its certificate (to trust) and key (0600) under <state>/ca."""

    certificate: Path
    key: Path

    @classmethod
    def in_state(cls, state_directory: Path) -> LocalCA:
        folder = state_directory / "ca"
        return cls(folder / "dotimely-demo-ca.crt", folder / "dotimely-demo-ca.key")

    def system_file_name(self) -> str:
        """A name of its own in the system's store (two demo states never overwrite each other's CA)."""
        der = x509.load_pem_x509_certificate(self.certificate.read_bytes()).public_bytes(serialization.Encoding.DER)
        return f"dotimely-demo-ca-{hashlib.sha256(der).hexdigest()[:8]}.crt"

    def trust_command(self) -> str:
        """The one command (as root, Debian/Ubuntu) that makes the system and Gajim trust this CA."""
        return (f"install -m 0644 {self.certificate} {SYSTEM_CA_DIRECTORY}/{self.system_file_name()} "
                "&& update-ca-certificates")


@dataclass(frozen=True)
class ServerCertificate:
    """The generated server certificate (the chain: server, then CA) and its key (0600), under <state>/tls:
    served by Prosody's c2s, an ejabberd node (a copy its user can read) and the upload host."""

    certificate: Path
    private_key: Path

    @classmethod
    def in_state(cls, state_directory: Path) -> ServerCertificate:
        folder = state_directory / "tls"
        return cls(folder / "server.crt", folder / "server.key")

    @classmethod
    def of_older_versions(cls, state_directory: Path) -> ServerCertificate:
        """Where versions before <state>/tls kept it (Prosody's folder, also with xmpp.server = "ejabberd")."""
        folder = state_directory / "prosody" / "certs"
        return cls(folder / "server.crt", folder / "server.key")


def certificate_names(config: Config) -> list[str]:
    """The names the server certificate carries: the domain and its subdomains, the loopback names, the
    hosts of the public URLs."""
    names = [config.xmpp.domain, f"*.{config.xmpp.domain}", config.component.jid, config.muc.host,
             "localhost", "127.0.0.1", "::1"]
    for url in (config.http.upload_public_url, config.http.api_public_url):
        host = urlsplit(url).hostname
        if host:
            names.append(host)
    return names


def ensure_server_certificate(config: Config) -> ServerCertificate:
    """The state's server certificate, current for `config`'s names (see ensure_certificate). A pair an
    older version left in <state>/prosody/certs is moved here first, so it goes on being served."""
    files = ServerCertificate.in_state(config.state_directory)
    older = ServerCertificate.of_older_versions(config.state_directory)
    if not files.certificate.exists() and not files.private_key.exists() and older.certificate.exists() \
            and older.private_key.exists():
        files.certificate.parent.mkdir(parents=True, exist_ok=True)
        os.replace(older.private_key, files.private_key)
        os.replace(older.certificate, files.certificate)
        log.info("Moved the server certificate of an older version from %s to %s", older.certificate.parent,
                 files.certificate.parent)
    ensure_certificate(files.certificate, files.private_key, certificate_names(config),
                       LocalCA.in_state(config.state_directory))
    return files


def ensure_certificate(cert: Path, key: Path, names: list[str], ca: LocalCA) -> bool:
    """Make the CA if needed, then `cert`/`key` for `names` (host names or IP addresses; the first is the
    subject) unless the present pair is current. Returns True when a new pair was made."""
    unique = list(dict.fromkeys(names))
    ca_cert, ca_key = _ensure_ca(ca, unique)
    now = dt.datetime.now(dt.UTC)
    problem = _server_problem(cert, key, unique, ca_cert, now)
    if problem is None:
        return False
    cert.parent.mkdir(parents=True, exist_ok=True)
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, unique[0])]))
               .issuer_name(ca_cert.subject)
               .public_key(server_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, content_commitment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                     ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in unique]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    server_cert = builder.sign(ca_key, hashes.SHA256())
    _write_private(key, server_key)
    cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM)
                     + ca_cert.public_bytes(serialization.Encoding.PEM))  # the chain: server, then CA
    if problem == "missing":
        log.info("Generated a certificate for %s at %s, signed by the demo CA %s", ", ".join(unique), cert,
                 ca.certificate)
    else:
        log.warning("Replaced the certificate at %s (%s) by one for %s signed by the demo CA %s", cert, problem,
                    ", ".join(unique), ca.certificate)
    return True


# ------------------------------------------------------------------------------------------------ the CA
def _ensure_ca(ca: LocalCA, names: list[str]) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    if ca.certificate.exists() and ca.key.exists():
        ca_cert = x509.load_pem_x509_certificate(ca.certificate.read_bytes())
        ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
        if isinstance(ca_key, rsa.RSAPrivateKey) and _permits(ca_cert, names) and \
                ca_cert.not_valid_after_utc - dt.timedelta(days=SERVER_DAYS) > dt.datetime.now(dt.UTC):
            return ca_cert, ca_key
        log.warning("The demo CA %s does not cover %s (or expires soon): making a new one, which must be "
                    "trusted again", ca.certificate, ", ".join(names))
    ca.certificate.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DoTimely demo (local, not for production)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"DoTimely demo CA {secrets.token_hex(4)}")])
    dns = sorted({n.removeprefix("*.") for n in names if _ip(n) is None})
    ips = sorted({ip for ip in map(_ip, names) if ip is not None}, key=lambda ip: (ip.version, int(ip)))
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_network(ip)) for ip in ips],
        excluded_subtrees=None)
    ca_cert = (x509.CertificateBuilder()
               .subject_name(name).issuer_name(name)
               .public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=CA_DAYS))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, key_encipherment=False, content_commitment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False),
                              critical=True)
               .add_extension(constraints, critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    _write_private(ca.key, ca_key)
    ca.certificate.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    log.info("Generated the demo CA %s for %s", ca.certificate, ", ".join(names))
    return ca_cert, ca_key


def _permits(ca_cert: x509.Certificate, names: list[str]) -> bool:
    """Whether the CA's name constraints let it sign every one of `names`."""
    try:
        constraints = ca_cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return True
    dns = [str(t.value) for t in constraints.permitted_subtrees or () if isinstance(t, x509.DNSName)]
    networks = [t.value for t in constraints.permitted_subtrees or ()
                if isinstance(t, x509.IPAddress) and isinstance(t.value, ipaddress.IPv4Network | ipaddress.IPv6Network)]
    for name in names:
        ip = _ip(name)
        if ip is not None:
            if not any(ip in network for network in networks):
                return False
        elif not any(name.removeprefix("*.") == d or name.endswith("." + d) for d in dns):
            return False
    return True


# -------------------------------------------------------------------------------------- the certificate
def _server_problem(cert: Path, key: Path, names: list[str], ca_cert: x509.Certificate, now: dt.datetime
                    ) -> str | None:
    """Why the present certificate must be made again, or None when it is current."""
    if not cert.exists() or not key.exists():
        return "missing"
    try:
        server_cert = x509.load_pem_x509_certificates(cert.read_bytes())[0]
        server_key = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except ValueError:
        return "unreadable"
    if server_cert.issuer != ca_cert.subject:
        return "not issued by the demo CA: self-signed by an older version" \
            if server_cert.issuer == server_cert.subject else "not issued by the demo CA"
    try:
        server_cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return "not issued by the demo CA"
    if server_key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo) != \
            server_cert.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo):
        return "its key does not match"
    if server_cert.not_valid_after_utc - RENEW_BEFORE < now:
        return "expires within 30 days"
    try:
        present = set(server_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        present = set()
    if not {_general_name(n) for n in names} <= present:
        return "it does not name every host"
    return None


# ----------------------------------------------------------------------------------------------- helpers
def _ip(name: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _general_name(name: str) -> x509.GeneralName:
    ip = _ip(name)
    return x509.IPAddress(ip) if ip is not None else x509.DNSName(name)


def _write_private(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)  # also when the file existed with other bits
