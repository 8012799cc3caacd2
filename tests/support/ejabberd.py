"""Helpers of the ejabberd tests: the test config of a node, a temp dir the ejabberd user can reach, clients
logged in to the node over verified STARTTLS, accounts over the admin API (tests/conftest.py has the
session node `ejabberd_server` and the whole service on it, `ejabberd_chat_service`)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import ssl
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from slixmpp import ClientXMPP

from dotimely_chat.config import Config
from dotimely_chat.servers.ejabberd_process import EjabberdProcess
from dotimely_chat.servers.tls import LocalCA

from .clients import ClientFactory
from .config import free_port, make_test_config


def ejabberd_test_config(state: Path, **sections: dict[str, Any]) -> Config:
    """make_test_config with xmpp.server = "ejabberd" and free distribution and admin API ports."""
    return make_test_config(state, xmpp={"server": "ejabberd", **sections.pop("xmpp", {})},
                            ejabberd={"distribution_port": free_port(), "admin_api_port": free_port(),
                                      **sections.pop("ejabberd", {})}, **sections)


@contextmanager
def reachable_temp_dir() -> Iterator[Path]:
    """A temp dir the ejabberd user can traverse (pytest's own temp dirs are 0700 root)."""
    folder = Path(tempfile.mkdtemp(prefix="dotimely-ejabberd-"))
    os.chmod(folder, 0o711)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def login(node: EjabberdProcess, jid: str, password: str) -> ClientXMPP | None:
    """A client logged in over STARTTLS that trusts only the demo CA (None when the password is refused)."""
    client = ClientXMPP(jid, password)
    client.ssl_context = ssl.create_default_context(
        cafile=str(LocalCA.in_state(node.config.state_directory).certificate))
    outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    client.add_event_handler("session_start", lambda _: outcome.done() or outcome.set_result(True))
    client.add_event_handler("failed_auth", lambda _: outcome.done() or outcome.set_result(False))
    client.connect("127.0.0.1", node.config.xmpp.client_port)
    logged_in = await asyncio.wait_for(outcome, 10)
    if not logged_in:
        client.disconnect()
        return None
    return client


def admin_api_call(node: EjabberdProcess, command: str, **arguments: Any) -> Any:
    """One admin API command, synchronously (for fixtures and factories that are not coroutines)."""
    request = urllib.request.Request(f"{node.api_url}/{command}", data=json.dumps(arguments).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read() or b"null")


class EjabberdClientFactory(ClientFactory):
    """ClientFactory on an ejabberd node: accounts over the admin API instead of prosodyctl."""

    def __init__(self, server: EjabberdProcess) -> None:  # the clients only need config and paths
        super().__init__(server)  # type: ignore[arg-type]

    def account(self, localpart: str | None = None) -> tuple[str, str]:
        localpart = localpart or f"user-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12)
        domain = self.server.config.xmpp.domain
        admin_api_call(self.server, "register", user=localpart, host=domain, password=password)  # type: ignore[arg-type]
        return f"{localpart}@{domain}", password

    def delete_account(self, jid: str) -> None:
        localpart = jid.split("@", 1)[0]
        admin_api_call(self.server, "unregister", user=localpart, host=self.server.config.xmpp.domain)  # type: ignore[arg-type]

    def set_password(self, jid: str, password: str) -> None:
        """Change an account's password on the node itself (admin API), behind the service's back."""
        user, domain = jid.split("@", 1)
        assert admin_api_call(self.server, "change_password", user=user, host=domain,  # type: ignore[arg-type]
                              newpass=password) == 0
