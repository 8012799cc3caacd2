"""The one config schema: every key's section, validator and default, and the frozen dataclasses it fills.

To add a key: a line in `SCHEMA`, a field in its section's dataclass, and the key documented in the shipped
config.toml (a test checks that every key is there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import values as v
from .values import Listen, Validator, origin_of

# Values shipped in config.toml. They are refused outside demo mode; `up` replaces them with generated ones.
EXAMPLE_COMPONENT_SECRET = "example-component-secret"
EXAMPLE_API_TOKEN = "example-api-token"

LOG_LEVELS = ("debug", "info", "warning", "error")
SERVER_KINDS = ("prosody", "ejabberd")


@dataclass(frozen=True)
class XmppConfig:
    domain: str
    server: str
    server_host: str
    client_interfaces: tuple[str, ...]
    client_port: int
    http_port: int
    server_to_server: bool
    session_hibernation: int


@dataclass(frozen=True)
class EjabberdConfig:
    """What an ejabberd run for us needs beside the XMPP ports (read only with xmpp.server = "ejabberd")."""

    node: str               # Erlang node name, NAME@IP; the IP is the distribution interface
    distribution_port: int  # ERL_DIST_PORT: the node listens here and no epmd is started or asked
    admin_api_port: int     # mod_http_api, on 127.0.0.1 only (on the node's address in a cluster)
    # Every node of a cluster, `node` first; () for one node. The same ports on each node's address.
    nodes: tuple[str, ...] = ()

    @property
    def distribution_interface(self) -> str:
        return self.node.split("@", 1)[1]

    @property
    def cluster(self) -> tuple[str, ...]:
        """The node names we run: `nodes`, or `node` alone."""
        return self.nodes or (self.node,)

    @property
    def clustered(self) -> bool:
        return len(self.cluster) > 1

    @property
    def local_address(self) -> str:
        """Where this node's component listener and admin API listen: 127.0.0.1 for one node, the node's own
        loopback address in a cluster (several nodes on one machine share the ports, one address each)."""
        return self.distribution_interface if self.clustered else "127.0.0.1"


def _websocket_on(host: str, port: int) -> str:
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    host = f"[{host}]" if ":" in host else host
    return f"ws://{host}:{port}/xmpp-websocket"


@dataclass(frozen=True)
class ComponentConfig:
    jid: str
    secret: str
    port: int
    ping_interval: int = 10  # seconds between XEP-0199 pings to the server
    ping_timeout: int = 5    # seconds without an answer after which the link counts as lost


@dataclass(frozen=True)
class MucConfig:
    host: str


@dataclass(frozen=True)
class DatabaseConfig:
    url: str  # "" means SQLite in the state directory


@dataclass(frozen=True)
class HttpConfig:
    api_listen: Listen
    api_public_url: str
    upload_listen: Listen
    upload_public_url: str
    tls_certificate: str  # "" means the generated self-signed certificate in the state directory
    tls_key: str


@dataclass(frozen=True)
class WebConfig:
    listen: Listen
    public_url: str
    websocket_url: str  # "" means Prosody's websocket on the first client interface
    login_link_lifetime: int
    session_lifetime: int


@dataclass(frozen=True)
class UploadConfig:
    directory: str  # "" means <state>/uploads
    max_file_size: int  # the largest file of any kind (announced in the service's disco info)
    picture_types: tuple[str, ...]
    picture_max_size: int
    video_types: tuple[str, ...]
    video_max_size: int
    document_types: tuple[str, ...]
    document_max_size: int
    daily_quota: int  # bytes per person over the last 24 hours
    slot_expires_after: int  # seconds
    cors_origins: tuple[str, ...] = ()  # browser origins that may PUT/read files; () = the web page's

    def cors_origins_for(self, web_public_url: str) -> frozenset[str]:
        """The origins answered with CORS headers: the configured ones, else the web page's."""
        return frozenset(self.cors_origins or (origin_of(web_public_url),))


@dataclass(frozen=True)
class ArchiveConfig:
    retention: str  # "never" or "<n>d|w|m|y"


@dataclass(frozen=True)
class ApiConfig:
    token: str


@dataclass(frozen=True)
class DemoConfig:
    enabled: bool


@dataclass(frozen=True)
class Config:
    state_directory: Path
    log_level: str
    xmpp: XmppConfig
    component: ComponentConfig
    muc: MucConfig
    database: DatabaseConfig
    http: HttpConfig
    upload: UploadConfig
    archive: ArchiveConfig
    api: ApiConfig
    demo: DemoConfig
    web: WebConfig
    ejabberd: EjabberdConfig
    source: Path | None = field(default=None, compare=False)

    @property
    def websocket_urls(self) -> tuple[str, ...]:
        """Where the web page's XMPP client connects, in the order it tries them: web.websocket_url, else the
        server's own websocket (/xmpp-websocket on xmpp.http_port, Prosody's and ejabberd's alike). Each node of
        an ejabberd cluster listens on its own address only: one URL per node, the first node first (the page
        goes on to the next when the one it used goes away)."""
        if self.web.websocket_url:
            return (self.web.websocket_url,)
        if self.xmpp.server == "ejabberd" and self.ejabberd.clustered:
            hosts = [node.split("@", 1)[1] for node in self.ejabberd.cluster]
        else:
            hosts = [self.xmpp.client_interfaces[0] if self.xmpp.client_interfaces else "127.0.0.1"]
        return tuple(_websocket_on(host, self.xmpp.http_port) for host in hosts)

    @property
    def websocket_url(self) -> str:
        """The first of websocket_urls (what `up` prints)."""
        return self.websocket_urls[0]

    @property
    def upload_directory(self) -> Path:
        return Path(self.upload.directory) if self.upload.directory else self.state_directory / "uploads"

    def uses_example_secrets(self) -> list[str]:
        """Key paths whose value is still the shipped example."""
        found = []
        if self.component.secret == EXAMPLE_COMPONENT_SECRET:
            found.append("component.secret")
        if self.api.token == EXAMPLE_API_TOKEN:
            found.append("api.token")
        return found


# section -> key -> (validator, default). A default of REQUIRED means the key must be present.
REQUIRED = object()

SCHEMA: dict[str, dict[str, tuple[Validator, Any]]] = {
    "": {
        "state_directory": (v.string(), "state"),
        "log_level": (v.choice(*LOG_LEVELS), "info"),
    },
    "xmpp": {
        "domain": (v.domain, REQUIRED),
        "server": (v.choice(*SERVER_KINDS), "prosody"),
        "server_host": (v.host, "127.0.0.1"),
        "client_interfaces": (v.ip_list, ["127.0.0.1"]),
        "client_port": (v.port, 5222),
        "http_port": (v.port, 5280),
        "server_to_server": (v.boolean, False),
        "session_hibernation": (v.seconds(5, 3600), 45),
    },
    "component": {
        "jid": (v.domain, REQUIRED),
        "secret": (v.secret, REQUIRED),
        "port": (v.port, 5347),
        "ping_interval": (v.seconds(1, 300), 10),
        "ping_timeout": (v.seconds(1, 60), 5),
    },
    "muc": {"host": (v.domain, REQUIRED)},
    "database": {"url": (v.database_url, "")},
    "http": {
        "api_listen": (v.listen, "127.0.0.1:8780"),
        "api_public_url": (v.url("http", "https"), "http://127.0.0.1:8780"),
        "upload_listen": (v.listen, "127.0.0.1:8443"),
        "upload_public_url": (v.url("https"), "https://127.0.0.1:8443"),
        "tls_certificate": (v.string(allowed_empty=True), ""),
        "tls_key": (v.string(allowed_empty=True), ""),
    },
    "upload": {
        "directory": (v.string(allowed_empty=True), ""),
        "max_file_size": (v.size, "100 MiB"),
        "picture_types": (v.mime_list, ["image/jpeg", "image/png", "image/gif", "image/webp", "image/heic",
                                        "image/heif"]),
        "picture_max_size": (v.size, "20 MiB"),
        "video_types": (v.mime_list, ["video/mp4", "video/quicktime", "video/webm"]),
        "video_max_size": (v.size, "100 MiB"),
        "document_types": (v.mime_list, [
            "application/pdf", "text/plain", "text/csv",
            "application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
            "application/vnd.oasis.opendocument.presentation", "application/rtf"]),
        "document_max_size": (v.size, "25 MiB"),
        "daily_quota": (v.size, "1 GiB"),
        "slot_expires_after": (v.seconds(10, 86400), 300),
        "cors_origins": (v.origin_list, []),
    },
    "archive": {"retention": (v.duration, "5y")},
    "api": {"token": (v.secret, REQUIRED)},
    "demo": {"enabled": (v.boolean, False)},
    "web": {
        "listen": (v.listen, "127.0.0.1:8790"),
        "public_url": (v.url("http", "https"), "http://localhost:8790"),
        "websocket_url": (v.url_or_empty("ws", "wss"), ""),
        "login_link_lifetime": (v.seconds(10, 3600), 60),
        "session_lifetime": (v.seconds(300, 30 * 86400), 43200),
    },
    "ejabberd": {
        "node": (v.erlang_node, "ejabberd@127.0.0.1"),
        "distribution_port": (v.port, 5210),
        "admin_api_port": (v.port, 5285),
        "nodes": (v.erlang_cluster, []),
    },
}

