"""Real slixmpp clients logged in to a test's Prosody over verified TLS, and accounts made or changed
behind the service's back (prosodyctl; tests/support/ejabberd.py has ejabberd's admin API)."""

from __future__ import annotations

import asyncio
import secrets
import ssl
import subprocess
from typing import Any

from slixmpp import ClientXMPP

from dotimely_chat.servers.prosody_config import ProsodyPaths
from dotimely_chat.servers.prosody_process import ProsodyProcess
from dotimely_chat.servers.tls import LocalCA


def client_ssl_context(paths: ProsodyPaths) -> ssl.SSLContext:
    """Trust exactly the generated demo CA (as a client does once the CA is trusted): TLS is verified."""
    return ssl.create_default_context(cafile=str(LocalCA.in_state(paths.root.parent).certificate))


class ClientFactory:
    def __init__(self, server: ProsodyProcess) -> None:
        self.server = server
        self.clients: list[ClientXMPP] = []

    def account(self, localpart: str | None = None) -> tuple[str, str]:
        localpart = localpart or f"user-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12)
        self.server.register(localpart, password)
        return f"{localpart}@{self.server.config.xmpp.domain}", password

    def delete_account(self, jid: str) -> None:
        """Remove an account behind the service's back (as an operator or a lost server data directory)."""
        localpart = jid.split("@", 1)[0]
        result = subprocess.run(["prosodyctl", "--config", str(self.server.paths.config_file), "deluser",
                                 f"{localpart}@{self.server.config.xmpp.domain}"], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr

    def set_password(self, jid: str, password: str) -> None:
        """Change an account's password on the server itself, behind the service's back."""
        result = subprocess.run(["prosodyctl", "--config", str(self.server.paths.config_file), "passwd", jid],
                                input=f"{password}\n{password}\n", capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"prosodyctl passwd {jid}: {result.stdout}{result.stderr}"

    async def logs_in(self, jid: str, password: str, timeout: float = 10.0) -> bool:
        """Whether the server takes this password (the client is disconnected again either way)."""
        client = ClientXMPP(jid, password)
        client.ssl_context = client_ssl_context(self.server.paths)
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        client.add_event_handler("session_start", lambda _: outcome.done() or outcome.set_result(True))
        client.add_event_handler("failed_auth", lambda _: outcome.done() or outcome.set_result(False))
        client.connect("127.0.0.1", self.server.config.xmpp.client_port)
        try:
            return await asyncio.wait_for(outcome, timeout)
        finally:
            client.disconnect()

    async def connect(self, jid: str, password: str, *plugins: str, timeout: float = 10.0,
                      **named_plugins: Any) -> ClientXMPP:
        """A logged-in client with xep_0030, xep_0199 and the plugins named (positionally or as keywords)."""
        client = ClientXMPP(jid, password)
        for plugin in ("xep_0030", "xep_0199", *plugins, *named_plugins):
            client.register_plugin(plugin)
        client.ssl_context = client_ssl_context(self.server.paths)
        started: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        client.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
        client.add_event_handler("failed_auth", lambda _: started.done() or started.set_result(False))
        client.connect("127.0.0.1", self.server.config.xmpp.client_port)
        self.clients.append(client)
        if not await asyncio.wait_for(started, timeout):
            raise AssertionError(f"{jid} could not log in")
        return client

    async def close(self) -> None:
        for client in self.clients:
            client.disconnect()
        await asyncio.sleep(0)


def clients_for(server: Any) -> ClientFactory:
    """The ClientFactory of a running test server of either kind (accounts through prosodyctl or ejabberd's
    admin API)."""
    from dotimely_chat.servers.ejabberd_process import EjabberdProcess

    from .ejabberd import EjabberdClientFactory

    return EjabberdClientFactory(server) if isinstance(server, EjabberdProcess) else ClientFactory(server)
