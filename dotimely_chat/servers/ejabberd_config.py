"""Render ejabberd.yml and ejabberdctl.cfg from our config: one fact in one place.

`dotimely-chat server-config ejabberd`, `dotimely-chat up` (with xmpp.server = "ejabberd") and the tests all call
`render_ejabberd_config`. The YAML is written with `yaml.safe_dump` (ejabberd 23.01 reads it with fast_yaml and
validates strictly: one unknown option and the node refuses to start). The reasons for the choices are in
the header comment of the output, since YAML written by a dumper cannot carry comments beside each line.
ejabberd 23.01 facts behind them: ../shared/EJABBERD.md and COMPAT.md §4.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints (types-PyYAML not installed)

from ..config import Config
from ..policies.contacts import ONE_TO_ONE_REFUSAL

C2S_STANZA_SIZE_LIMIT = 256 * 1024
MAX_USER_CONFERENCES = 10000  # ejabberd's default of 100 would stop a busy staff member joining new rooms
TLS_OPTIONS = ["no_sslv3", "no_tlsv1", "no_tlsv1_1", "cipher_server_preference", "no_compression"]
TLS_CIPHERS = "HIGH:!aNULL:!eNULL:!3DES:@STRENGTH"


@dataclass(frozen=True)
class EjabberdPaths:
    """Where an ejabberd run by us keeps its files (all under <state>/ejabberd, owned by the ejabberd user)."""

    root: Path

    @classmethod
    def in_state(cls, state_directory: Path) -> EjabberdPaths:
        return cls(state_directory / "ejabberd")

    @classmethod
    def for_config(cls, config: Config) -> EjabberdPaths:
        """One node: <state>/ejabberd; a node of a cluster: <state>/ejabberd/nodes/<node name>."""
        one = cls.in_state(config.state_directory)
        return cls(one.root / "nodes" / config.ejabberd.node) if config.ejabberd.clustered else one

    @property
    def config_dir(self) -> Path:
        """What `ejabberdctl --config-dir` takes: ejabberd.yml, ejabberdctl.cfg, inetrc."""
        return self.root / "conf"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "ejabberd.yml"

    @property
    def ctl_config_file(self) -> Path:
        return self.config_dir / "ejabberdctl.cfg"

    @property
    def inetrc(self) -> Path:
        """Empty: silences ejabberd's inet_config error on every start and ctl call."""
        return self.config_dir / "inetrc"

    @property
    def spool_dir(self) -> Path:
        """Mnesia: accounts, rosters, rooms, archives."""
        return self.root / "spool"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def log_file(self) -> Path:
        return self.logs_dir / "ejabberd.log"

    @property
    def error_log_file(self) -> Path:
        return self.logs_dir / "error.log"

    @property
    def console_log_file(self) -> Path:
        """What the node writes to stdout/stderr (boot failures land here before its own log opens)."""
        return self.logs_dir / "console.log"

    @property
    def home_dir(self) -> Path:
        """HOME of the node and of our ctl calls: holds the Erlang cookie (.erlang.cookie, 0400)."""
        return self.root / "home"

    @property
    def cookie_file(self) -> Path:
        return self.home_dir / ".erlang.cookie"

    @property
    def pidfile(self) -> Path:
        return self.root / "ejabberd.pid"

    @property
    def modules_dir(self) -> Path:
        """Our compiled ejabberd modules (servers/ejabberd_modules), on the node's code path (`erl -pa`)."""
        return self.root / "ebin"

    @property
    def certificate(self) -> Path:
        """The server certificate chain and its key in one PEM file the ejabberd user can read."""
        return self.root / "certs" / "server.pem"


def _listeners(config: Config) -> list[dict[str, Any]]:
    x, c = config.xmpp, config.component
    listeners: list[dict[str, Any]] = []
    for address in x.client_interfaces:
        listeners.append({
            "port": x.client_port, "ip": address, "module": "ejabberd_c2s",
            "max_stanza_size": C2S_STANZA_SIZE_LIMIT, "shaper": "c2s_shaper", "access": "c2s",
            "starttls_required": True, "protocol_options": TLS_OPTIONS, "ciphers": TLS_CIPHERS,
        })
    listeners.append({
        "port": c.port, "ip": config.ejabberd.local_address, "module": "ejabberd_service",
        "max_stanza_size": 4 * C2S_STANZA_SIZE_LIMIT,
        "hosts": {c.jid: {"password": c.secret}},
    })
    for address in x.client_interfaces:
        listeners.append({
            "port": x.http_port, "ip": address, "module": "ejabberd_http",
            "request_handlers": {"/xmpp-websocket": "ejabberd_http_ws", "/http-bind": "mod_bosh"},
        })
    listeners.append({
        "port": config.ejabberd.admin_api_port, "ip": config.ejabberd.local_address, "module": "ejabberd_http",
        "request_handlers": {"/api": "mod_http_api"},
    })
    return listeners


def _modules(config: Config) -> dict[str, Any]:
    x, c = config.xmpp, config.component
    modules: dict[str, Any] = {
        "mod_adhoc": {},
        "mod_admin_extra": {},  # the admin API's account, roster and send_stanza commands
        "mod_avatar": {},
        "mod_blocking": {},
        "mod_bosh": {},
        "mod_caps": {},
        "mod_carboncopy": {},
        "mod_client_state": {},
        "mod_disco": {"extra_domains": [c.jid]},  # upload discovery even while the component is away
        "mod_http_api": {},
        "mod_last": {},
        "mod_mam": {"default": "always", "assume_mam_usage": True, "clear_archive_on_room_destroy": False},
        "mod_muc": {
            "host": config.muc.host,
            "name": "Appointment rooms",
            "access": "all",
            "access_create": "muc_create",
            "access_persistent": "muc_create",
            "access_admin": "muc_admin",
            "access_mam": "all",
            "history_size": 50,
            "max_user_conferences": MAX_USER_CONFERENCES,
            "default_room_options": {
                "members_only": True, "anonymous": False, "persistent": True, "public": False,
                "public_list": False, "mam": True, "allow_private_messages": False,
                "allow_user_invites": False, "allow_change_subj": False, "allow_subscription": False,
                "moderated": False,  # moderated rooms let a removed member back in (23.01; component/muc_config.py)
            },
        },
        "mod_muc_admin": {},  # the admin API's room commands
        "mod_offline": {},
        "mod_ping": {},
        "mod_privacy": {},  # mod_blocking needs it
        "mod_private": {},
        "mod_privilege": {
            "roster": {"both": "chat_component"},
            "message": {"outgoing": "chat_component"},
            "presence": {"managed_entity": "chat_component"},
        },
        # Ours (ejabberd_modules/mod_dotimely_component.erl): a new stream of the component replaces its old one.
        "mod_dotimely_component": {},
        "mod_pubsub": {
            "access_createnode": "local",
            "plugins": ["flat", "pep"],
            "force_node_config": {
                # The component's bookmarks (servers/ejabberd_pep.py): a node a client makes stays persistent.
                "storage:bookmarks": {"access_model": "whitelist", "persist_items": True},
                "urn:xmpp:bookmarks:1": {"access_model": "whitelist", "max_items": 1000,
                                         "send_last_published_item": "never", "notify_retract": True},
            },
        },
        "mod_push": {"include_body": False, "include_sender": False},
        "mod_push_keepalive": {},
        "mod_roster": {"versioning": True},
        # Ours (ejabberd_modules/mod_dotimely_guard.erl), ahead of mod_block_strangers: the one-to-one rules.
        "mod_dotimely_guard": {"groupchat_senders": [config.muc.host], "access": "strangers_ok",
                               "refusal_text": ONE_TO_ONE_REFUSAL},
        "mod_block_strangers": {"allow_local_users": False, "access": "strangers_ok", "drop": True},
        # Ours (ejabberd_modules/mod_dotimely_markers.erl): room read markers are archived, as on Prosody.
        "mod_dotimely_markers": {},
        # Ours (ejabberd_modules/mod_dotimely_presence.erl): sleeping push-enabled phones shown gone after the
        # hibernation time, last seen stamped by the server only.
        "mod_dotimely_presence": {"hibernation": x.session_hibernation},
        # Ours too (ejabberd_modules/mod_dotimely_routes.erl): the admin command that tells the component
        # whether its JID is connected already (23.01 takes a second connection and splits the stanzas).
        "mod_dotimely_routes": {},
        "mod_stream_mgmt": {"resume_timeout": x.session_hibernation, "resend_on_timeout": "if_offline"},
        "mod_vcard": {"search": False},
        "mod_vcard_xupdate": {},
        "mod_version": {"show_os": False},
    }
    if x.server_to_server:
        modules["mod_s2s_dialback"] = {}
    return modules


def ejabberd_config_document(config: Config, paths: EjabberdPaths) -> dict[str, Any]:
    """ejabberd.yml as a Python document (the tests read it back)."""
    x, c = config.xmpp, config.component
    return {
        "hosts": [x.domain],
        "loglevel": "warning",
        "hide_sensitive_log_data": True,
        "certfiles": [str(paths.certificate)],
        "acme": {"auto": False},
        "auth_method": "internal",
        "auth_password_format": "scram",
        "disable_sasl_mechanisms": ["digest-md5", "X-OAUTH2"],
        "default_db": "mnesia",
        "s2s_access": "all" if x.server_to_server else "none",
        "s2s_use_starttls": "required",
        "listen": _listeners(config),
        "acl": {
            "chat_component": {"server": c.jid},   # the component's domain and its occupant JIDs
            "rooms_service": {"server": config.muc.host},
            "local": {"user_regexp": ""},
            "loopback": {"ip": ["127.0.0.0/8", "::1/128"]},
        },
        # Trap 1: a list after one allow is an AND (acl:match_acls uses lists:all): one line per ACL.
        "access_rules": {
            "c2s": [{"allow": "all"}],
            "local": [{"allow": "local"}],
            "chat_component": [{"allow": "chat_component"}],
            "muc_create": [{"allow": "chat_component"}],
            "muc_admin": [{"allow": "chat_component"}],
            "strangers_ok": [{"allow": "chat_component"}, {"allow": "rooms_service"}],
        },
        # Trap 2: entries directly under `who` are OR-ed; an `access: allow: [...]` list there is an AND.
        "api_permissions": {
            "console commands": {"from": ["ejabberd_ctl"], "who": "all", "what": "*"},
            "loopback callers of the admin API": {
                "from": ["mod_http_api"], "who": [{"acl": "loopback"}], "what": ["*", "!stop", "!start"],
            },
        },
        "shaper": {"normal": {"rate": 51200, "burst_size": 102400}},
        "shaper_rules": {"c2s_shaper": "normal", "max_user_sessions": 10},
        "modules": _modules(config),
    }


def _header(config: Config, paths: EjabberdPaths) -> str:
    retention = config.archive.retention
    return f"""\
# ejabberd.yml generated by dotimely-chat from {config.source or "its config"}.
# Do not edit: change config.toml and run `dotimely-chat server-config ejabberd` again.
#
# Why it says what it says (ejabberd 23.01):
# - loglevel warning: at info, mod_http_api logs every call with its arguments (passwords in clear).
# - c2s: STARTTLS required, with the generated certificate (chain and key in one file, certfiles).
# - The component listener (ejabberd_service) and the admin API (mod_http_api, /api) listen on 127.0.0.1
#   only. The admin API answers every local caller: keep the machine's local users trusted.
# - mod_privilege speaks urn:xmpp:privilege:1 only (roster, message, presence; no IQ permission).
# - MUC: the component ({config.component.jid}, rooms@ too) is the only room creator and the only service
#   admin, so it is the one owner of every room; one access rule line per ACL (a list is an AND).
# - mod_dotimely_guard is ours: dotimely-chat compiles it (servers/ejabberd_modules) into {paths.modules_dir}
#   and starts its nodes with that on the code path (erl -pa); a node started otherwise needs it there too.
#   It enforces the one-to-one rules ahead of mod_block_strangers (allow_local_users false, kept behind it):
#   staff and customers never reach each other directly, groupchat-typed messages only from the rooms, a
#   refused message answered with our text, last activity only to contacts, no subscriptions between users;
#   the component and the rooms pass (`access`).
# - mod_dotimely_markers is ours too (compiled and loaded the same way): a room message with an XEP-0333
#   marker and no storage hint is archived as if it had <store/> (Prosody's room MAM archives markers; 23.01's
#   only body, subject or <store/>), so the markers Gajim and Converse send while the component is away reach
#   its back-fill. The occupants get the marker as it was sent; receipts and chat states are not archived.
# - mod_dotimely_presence is ours too: a push-enabled session that lost its connection (kept 72 h by
#   mod_push_keepalive, for its pushes and rooms) is shown gone to its contacts and the component after
#   {config.xmpp.session_hibernation} s, stamped with the cut (<delay from=the domain>), and back when it resumes; a
#   client's own <delay> is removed from its presence, so only the server dates a last seen.
# - mod_dotimely_routes is ours too: the admin command dotimely_component_connections, asked by the
#   component before it connects (23.01 takes a second connection of a component JID and splits its
#   stanzas between them, where Prosody refuses the second one).
# - MAM on for everyone and every room. ejabberd 23.01 has no archive expiry option: the retention
#   ({retention}) is applied through the admin API (delete_old_mam_messages), never the server's default.
#   Storage is mnesia (Debian's ejabberd has no SQL driver packaged beside it).
# - mod_push without body or sender in the payload (privacy, compliance); mod_stream_mgmt keeps a lost
#   session {config.xmpp.session_hibernation} s (xmpp.session_hibernation).
# - Websocket at /xmpp-websocket and BOSH at /http-bind on xmpp.http_port for the web page; like Prosody's
#   consider_websocket_secure, they offer login without TLS of their own (TLS belongs to the proxy in front).
# - Room bookmarks are legacy storage:bookmarks (what clients read on 23.01, which advertises bookmarks-conversion
#   and not bookmarks:1#compat), forced whitelist and persistent whoever creates the node.
# - Upload discovery: the component's domain is listed in the host's disco items (mod_disco extra_domains).
"""


def render_ejabberd_config(config: Config, paths: EjabberdPaths) -> str:
    body = yaml.safe_dump(ejabberd_config_document(config, paths), sort_keys=False, default_flow_style=False,
                          allow_unicode=True)
    return _header(config, paths) + body


def ejabberdctl_values(config: Config, paths: EjabberdPaths) -> dict[str, str]:
    """The ejabberdctl.cfg settings: the node name, distribution on one interface and port (no epmd)."""
    e = config.ejabberd
    return {
        "ERLANG_NODE": e.node,
        "INET_DIST_INTERFACE": e.distribution_interface,
        # With ERL_DIST_PORT no epmd is started or asked (ejabberdctl would otherwise `epmd -kill` one that
        # another program, e.g. RabbitMQ, runs).
        "ERL_DIST_PORT": str(e.distribution_port),
        "EJABBERD_PID_PATH": str(paths.pidfile),
        "ERL_OPTIONS": "-env ERL_CRASH_DUMP_BYTES 0",
        "EJABBERD_BYPASS_WARNINGS": "true",
    }


def render_ejabberdctl_config(config: Config, paths: EjabberdPaths) -> str:
    lines = ["# ejabberdctl.cfg generated by dotimely-chat. The Erlang cookie is $HOME/.erlang.cookie of the",
             f"# node's user; ours is {paths.cookie_file}, so run ejabberdctl with that HOME, e.g.",
             (f"#   su ejabberd -s /bin/sh -c 'HOME={paths.home_dir} ejabberdctl --config-dir {paths.config_dir} "
              f"--spool {paths.spool_dir} --logs {paths.logs_dir} status'")]
    lines += [f'{name}="{value}"' if " " in value else f"{name}={value}"
              for name, value in ejabberdctl_values(config, paths).items()]
    return "\n".join(lines) + "\n"
