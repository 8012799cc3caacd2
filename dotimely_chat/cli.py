"""The `dotimely-chat` command: up, component, server-config, db upgrade."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from .app import ChatService, ServiceError, database_url
from .config import Config, load_config
from .errors import ConfigError, DomainError
from .instance_lock import InstanceLocked, lock_state_directory
from .logging_setup import configure_logging
from .secret_store import refuse_example_secrets, resolve_secrets
from .servers.ejabberd_cluster import EjabberdCluster, node_config
from .servers.ejabberd_config import EjabberdPaths, render_ejabberd_config, render_ejabberdctl_config
from .servers.ejabberd_process import EjabberdError, EjabberdProcess
from .servers.prosody_config import ProsodyPaths, render_prosody_config
from .servers.prosody_process import ProsodyError, ProsodyProcess
from .servers.supervisor import ServerSupervisor
from .servers.tls import LocalCA, ServerCertificate
from .services.demo import DemoAccount, ensure_demo_business
from .storage import Database
from .storage.migrate import upgrade_database

log = logging.getLogger("dotimely_chat")

CONNECT_TIMEOUT_SECONDS = 30.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dotimely-chat", description="DoTimely business chat on XMPP")
    parser.add_argument("--config", type=Path, default=Path(os.environ.get("DOTIMELY_CONFIG", "config.toml")),
                        help="path of config.toml (default: ./config.toml or $DOTIMELY_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run Prosody, the component and a demo business (the main job)")
    commands.add_parser("component", help="run the component alone against a server run elsewhere")
    server_config = commands.add_parser("server-config", help="print the XMPP server's config for this component")
    server_config.add_argument("kind", choices=["prosody", "ejabberd"])
    db = commands.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
        configure_logging(config.log_level)
        if args.command == "server-config":
            return _server_config(config, args.kind)
        if args.command == "db":
            return asyncio.run(_db_upgrade(config))
        if args.command == "up":
            return asyncio.run(_up(config))
        return asyncio.run(_component(config))
    except ConfigError as exc:
        print(f"dotimely-chat: config error in {args.config}: {exc}", file=sys.stderr)
        return 2
    except (ProsodyError, EjabberdError, ServiceError, DomainError, InstanceLocked) as exc:
        print(f"dotimely-chat: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _server_config(config: Config, kind: str) -> int:
    config = resolve_secrets(config, generate=True)
    refuse_example_secrets(config)
    if kind == "ejabberd":
        if not config.ejabberd.clustered:
            sys.stdout.write(_ejabberd_node_config(config))
            return 0
        # A cluster: each node's files, one YAML document per node (`---`), each headed by its node and paths.
        documents = []
        for node in config.ejabberd.cluster:
            one = node_config(config, node)
            paths = EjabberdPaths.for_config(one)
            documents.append(f"# ejabberd node {node}: {paths.config_file}\n" + _ejabberd_node_config(one))
        sys.stdout.write("---\n".join(documents))
        return 0
    sys.stdout.write(render_prosody_config(config, ProsodyPaths.in_state(config.state_directory)))
    return 0


def _ejabberd_node_config(config: Config) -> str:
    """One node's ejabberd.yml; the ejabberdctl.cfg values follow as YAML comments, so the output stays one
    valid ejabberd.yml."""
    paths = EjabberdPaths.for_config(config)
    ctl = "".join(line + "\n" if line.startswith("#") else f"#   {line}\n"
                  for line in render_ejabberdctl_config(config, paths).splitlines())
    return render_ejabberd_config(config, paths) + "\n# ejabberdctl.cfg beside it:\n" + ctl


async def _db_upgrade(config: Config) -> int:
    database = Database(database_url(config))
    try:
        await upgrade_database(database)
    finally:
        await database.dispose()
    print(f"database {database.display_url} is up to date")
    return 0


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _start_service(config: Config) -> ChatService:
    service = ChatService(config)
    await service.start()
    if not await service.component.wait_connected(CONNECT_TIMEOUT_SECONDS):
        reason = service.component.state.last_error or "no answer"
        await service.stop()
        if service.component.state.refused:
            raise ServiceError(f"the server refused the component: {reason}; stop the other instance first")
        raise ServiceError(f"the component could not connect to {config.xmpp.server_host}:"
                           f"{config.component.port} within {CONNECT_TIMEOUT_SECONDS:.0f} s: {reason}")
    return service


async def _until_refused(service: ChatService, stop: asyncio.Event) -> None:
    """Set `stop` when the server refuses the component for good (another instance holds its JID)."""
    while not service.component.state.refused:
        await asyncio.sleep(0.2)
    stop.set()


async def _component(config: Config) -> int:
    # The lock before anything reads or writes the state directory: a second instance harms nothing.
    state_lock = lock_state_directory(config.state_directory)
    config = resolve_secrets(config, generate=False)
    refuse_example_secrets(config)
    stop = _stop_event()
    service = ChatService(config)
    try:
        await service.start()
        log.info("Component running; Ctrl-C stops it")
        watch = asyncio.create_task(_until_refused(service, stop))
        await stop.wait()
        watch.cancel()
    finally:
        await service.stop()
        state_lock.release()
    if service.component.state.refused:
        raise ServiceError(f"the server refused the component: {service.component.state.refused}; stop the "
                           "other instance first")
    return 0


async def _up(config: Config) -> int:
    # The lock before anything reads or writes the state directory (secrets, the server's files and pid, the
    # uploads): a second `up` on this state would stop the first one's server and its uploads.
    state_lock = lock_state_directory(config.state_directory)
    config = resolve_secrets(config, generate=True)
    refuse_example_secrets(config)
    stop = _stop_event()
    cluster: EjabberdCluster | None = None
    if config.xmpp.server == "ejabberd" and config.ejabberd.clustered:
        cluster = EjabberdCluster(config)
        await cluster.start()  # all nodes or none (it stops the started ones when one fails)
        processes: list[ProsodyProcess | EjabberdProcess] = list(cluster.nodes)
    elif config.xmpp.server == "ejabberd":
        processes = [EjabberdProcess(config)]
    else:
        processes = [ProsodyProcess(config)]
    server = processes[0]
    if cluster is None:
        await server.start()
    # One supervisor per node: a node that dies is started again and rejoins the cluster by itself.
    supervisors = [ServerSupervisor(process, lambda _message: stop.set()) for process in processes]
    for supervisor in supervisors:
        supervisor.start()
    service: ChatService | None = None
    try:
        service = await _start_service(config)
        accounts: list[DemoAccount] = []
        if config.demo.enabled:
            accounts = await ensure_demo_business(service.directory, service.database, config.xmpp.domain,
                                                  config.state_directory)
        _print_banner(config, server, accounts, cluster)
        await stop.wait()
        print("\nStopping…", flush=True)
    finally:
        for supervisor in supervisors:
            await supervisor.stop()
        try:
            if service is not None:
                await service.stop()
        finally:
            if cluster is not None:
                await cluster.stop()
            else:
                await server.stop()
            state_lock.release()
    failure = next((s.failure for s in supervisors if s.failure), None)
    if failure:
        raise (EjabberdError if isinstance(server, EjabberdProcess) else ProsodyError)(failure)
    return 0


def _print_banner(config: Config, server: ProsodyProcess | EjabberdProcess, accounts: list[DemoAccount],
                  cluster: EjabberdCluster | None = None) -> None:
    x = config.xmpp
    host = x.client_interfaces[0]
    ca = LocalCA.in_state(config.state_directory)
    name = "ejabberd" if isinstance(server, EjabberdProcess) else "Prosody"
    lines = [
        "",
        "DoTimely chat is running.",
        f"  XMPP server     {x.domain}, clients connect to {host} port {x.client_port} (STARTTLS)",
        f"  web clients     ws://{host}:{x.http_port}/xmpp-websocket  (BOSH: /http-bind)",
        f"  component       {config.component.jid} (rooms on {config.muc.host})",
        f"  HTTP API        {config.http.api_public_url}  token: {config.api.token}",
        f"  health          {config.http.api_public_url}/healthz",
        f"  upload host     {config.http.upload_public_url}",
        f"  web page        {config.web.public_url}/web/  (opened through login links, below)",
        f"  TLS certificate {ServerCertificate.in_state(config.state_directory).certificate} ("
        + ("XMPP; the upload host has http.tls_certificate" if config.http.tls_certificate
           else "XMPP and upload host") + "), signed by the demo CA",
        f"                  {ca.certificate}",
        f"  state           {config.state_directory}  ({name} log: {server.paths.log_file})",
    ]
    if cluster is not None:
        lines[2] = (f"  XMPP server     {x.domain}, a cluster of {len(cluster.nodes)} ejabberd nodes; clients "
                    f"connect to any of them, port {x.client_port} (STARTTLS):")
        lines[3:3] = [f"    node {n.config.ejabberd.node:<22} {n.config.xmpp.client_interfaces[0]}  "
                      f"(log: {n.paths.log_file})" for n in cluster.nodes]
    lines += [
        "",
        "Trust the demo CA once on this machine (as root; Gajim then accepts the XMPP server and attachments):",
        f"  {ca.trust_command()}",
        "  (browsers keep their own store: import the CA file as an authority; README: Connecting a client)",
    ]
    if accounts:
        lines += ["", "Demo business 'demo-salon' (Demo Salon); accounts:"]
        width = max(len(a.jid) for a in accounts)
        lines += [f"  {a.role:<9} {a.jid:<{width}}  password {a.password}   ({a.display_name})"
                  for a in accounts]
        owner = accounts[0]
        lines += [
            "",
            "Connect a client as the owner:",
            f"  Gajim: Accounts > Add account > Sign in: {owner.jid} / {owner.password};",
            f"         Advanced > Connection: host {host}, port {x.client_port} (the CA trusted as above; restart",
            "         Gajim after trusting it).",
            f"  Conversations: add account {owner.jid}, then 'Hostname' {host} and port {x.client_port}",
            "         (enable 'Show hostname and port' in Expert settings); the phone must reach this host,",
            "         so set xmpp.client_interfaces to an address it can reach.",
            "",
            "Open the web page as the owner (a link works once, for 60 s; use demo-customer-1 for Carl):",
            f"  curl -s -X POST -H 'Authorization: Bearer {config.api.token}' \\",
            f"    {config.http.api_public_url}/v1/businesses/demo-salon/people/demo-owner/web-login",
            "  then open the printed url in Chromium; with the CA not imported into the browser, first open "
            f"{config.http.upload_public_url}/healthz once and accept its certificate, so pictures show.",
        ]
    lines += ["", "Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
