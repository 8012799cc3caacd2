"""Configs for tests: the whole service and its Prosody on free loopback ports in a directory of the test's."""

from __future__ import annotations

import secrets
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from dotimely_chat.config import Config, parse_config

DOMAIN = "dotimely.test"

_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port, never the same twice in a session (the kernel may hand one out again)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def config_document(state_directory: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """A config document on free loopback ports; `sections` override keys per section."""
    doc: dict[str, Any] = {
        "state_directory": str(state_directory),
        "xmpp": {"domain": DOMAIN, "client_port": free_port(), "http_port": free_port()},
        "component": {"jid": f"chat.{DOMAIN}", "secret": secrets.token_urlsafe(24), "port": free_port()},
        "muc": {"host": f"rooms.{DOMAIN}"},
        "http": {"api_listen": f"127.0.0.1:{(api := free_port())}", "api_public_url": f"http://127.0.0.1:{api}",
                 "upload_listen": f"127.0.0.1:{(up := free_port())}",
                 "upload_public_url": f"https://127.0.0.1:{up}"},
        "api": {"token": secrets.token_urlsafe(24)},
        "web": {"listen": f"127.0.0.1:{(page := free_port())}", "public_url": f"http://localhost:{page}"},
    }
    for section, values in sections.items():
        doc.setdefault(section, {}).update(values)
    return doc


def make_test_config(state_directory: Path, **sections: dict[str, Any]) -> Config:
    return parse_config(config_document(state_directory, **sections), state_directory)


requires_prosody = pytest.mark.skipif(shutil.which("prosody") is None,
                                      reason="Prosody is not installed (./run.sh test installs it)")
