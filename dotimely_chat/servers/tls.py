"""A self-signed certificate for local use (the demo and the tests), made with the openssl command."""

from __future__ import annotations

import ipaddress
import logging
import os
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)


def _san_entry(name: str) -> str:
    try:
        ipaddress.ip_address(name)
        return f"IP:{name}"
    except ValueError:
        return f"DNS:{name}"


def ensure_self_signed_certificate(cert: Path, key: Path, names: list[str]) -> bool:
    """Create `cert`/`key` for `names` unless both exist. Returns True when a new pair was made.

    The first name is the subject; all names (host names or IP addresses) go into subjectAltName.
    """
    if cert.exists() and key.exists():
        return False
    cert.parent.mkdir(parents=True, exist_ok=True)
    unique = list(dict.fromkeys(names))
    san = ",".join(_san_entry(n) for n in unique)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={unique[0]}", "-addext",
         f"subjectAltName={san}", "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, capture_output=True,
    )
    os.chmod(key, 0o600)
    log.info("Generated a self-signed certificate for %s at %s", ", ".join(unique), cert)
    return True
