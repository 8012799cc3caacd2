"""Certificates as older versions left them in a state directory."""

from __future__ import annotations

import subprocess
from pathlib import Path


def old_self_signed_certificate(cert: Path, key: Path, domain: str) -> None:
    """What versions before the demo CA made: one self-signed certificate, with the openssl command."""
    cert.parent.mkdir(parents=True, exist_ok=True)
    san = f"DNS:{domain},DNS:*.{domain},DNS:localhost,IP:127.0.0.1"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
                    "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={domain}", "-addext",
                    f"subjectAltName={san}", "-addext", "basicConstraints=critical,CA:TRUE"],
                   check=True, capture_output=True)
