"""config.toml -> frozen dataclasses.

One schema for every key: its section, type, default and what is allowed. Loading rejects unknown keys and
bad values with a `ConfigError` that names the key path, the value and what is allowed, so an operator can
fix the file without reading code.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

# Values shipped in config.toml. They are refused outside demo mode; `up` replaces them with generated ones.
EXAMPLE_COMPONENT_SECRET = "example-component-secret"
EXAMPLE_API_TOKEN = "example-api-token"

_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_DURATION_RE = re.compile(r"^(\d+)([dwmy])$")
_SIZE_RE = re.compile(r"^(\d+)\s*(B|KiB|MiB|GiB)?$")
_LOG_LEVELS = ("debug", "info", "warning", "error")
_SERVER_KINDS = ("prosody", "ejabberd")


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


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
    admin_api_port: int     # mod_http_api, on 127.0.0.1 only

    @property
    def distribution_interface(self) -> str:
        return self.node.split("@", 1)[1]


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
    def websocket_url(self) -> str:
        """Where the web page's XMPP client connects: web.websocket_url, else Prosody's own websocket."""
        if self.web.websocket_url:
            return self.web.websocket_url
        host = self.xmpp.client_interfaces[0] if self.xmpp.client_interfaces else "127.0.0.1"
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        host = f"[{host}]" if ":" in host else host
        return f"ws://{host}:{self.xmpp.http_port}/xmpp-websocket"

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


# --------------------------------------------------------------------------------------------- validators
Validator = Callable[[str, Any], Any]


def _fail(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(key, value, allowed)


def _string(allowed_empty: bool = False) -> Validator:
    def check(key: str, value: Any) -> str:
        if not isinstance(value, str) or (not allowed_empty and not value.strip()):
            raise _fail(key, value, "a non-empty string" if not allowed_empty else "a string")
        return value

    return check


def _secret(key: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) < 16:
        raise _fail(key, "<hidden>" if isinstance(value, str) else value, "a string of at least 16 characters")
    return value


def _domain(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _DOMAIN_RE.match(value):
        raise _fail(key, value, "a lower-case DNS name such as 'example.com' (letters, digits, '-', '.')")
    return value


def _port(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _fail(key, value, "an integer port from 1 to 65535")
    return value


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, value, "true or false")
    return value


def _choice(*choices: str) -> Validator:
    def check(key: str, value: Any) -> str:
        if value not in choices:
            raise _fail(key, value, "one of " + ", ".join(repr(c) for c in choices))
        return value

    return check


def _ip(key: str, value: Any) -> str:
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        raise _fail(key, value, "an IP address such as '127.0.0.1' or '::1'") from None
    return str(value)


def _ip_list(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(key, value, "a non-empty list of IP addresses, e.g. [\"127.0.0.1\"]")
    return tuple(_ip(f"{key}[{i}]", item) for i, item in enumerate(value))


def _host(key: str, value: Any) -> str:
    if isinstance(value, str):
        try:
            return _ip(key, value)
        except ConfigError:
            pass
        if value == "localhost" or _DOMAIN_RE.match(value):
            return value
    raise _fail(key, value, "an IP address or a host name")


_NODE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _erlang_node(key: str, value: Any) -> str:
    allowed = "an Erlang node name NAME@IP such as 'ejabberd@127.0.0.1' (the IP is where the node listens)"
    if not isinstance(value, str) or value.count("@") != 1 or not _NODE_NAME_RE.match(value.split("@")[0]):
        raise _fail(key, value, allowed)
    try:
        _ip(key, value.split("@")[1])
    except ConfigError:
        raise _fail(key, value, allowed) from None
    return value


def _listen(key: str, value: Any) -> Listen:
    allowed = "'HOST:PORT', e.g. '127.0.0.1:8780' or '[::1]:8780'"
    if not isinstance(value, str):
        raise _fail(key, value, allowed)
    m = re.fullmatch(r"\[([0-9a-fA-F:]+)\]:(\d+)|([^:\[\]]+):(\d+)", value)
    if not m:
        raise _fail(key, value, allowed)
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    try:
        _host(key, host)
        _port(key, port)
    except ConfigError:
        raise _fail(key, value, allowed + " with a valid address and a port from 1 to 65535") from None
    return Listen(host, port)


def _url(*schemes: str) -> Validator:
    def check(key: str, value: Any) -> str:
        allowed = "an absolute URL starting with " + " or ".join(f"{s}://" for s in schemes)
        if not isinstance(value, str):
            raise _fail(key, value, allowed)
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname or parts.query or parts.fragment:
            raise _fail(key, value, allowed + " without query or fragment")
        return value.rstrip("/")

    return check


def _url_or_empty(*schemes: str) -> Validator:
    check_url = _url(*schemes)

    def check(key: str, value: Any) -> str:
        return "" if value == "" else check_url(key, value)

    return check


def _database_url(key: str, value: Any) -> str:
    if value == "":
        return ""
    allowed = "'' (SQLite in the state directory), 'sqlite:///PATH' or 'postgresql://USER@HOST:PORT/DB'"
    if not isinstance(value, str):
        raise _fail(key, value, allowed)
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in ("sqlite", "sqlite+aiosqlite", "postgresql", "postgres", "postgresql+asyncpg"):
        raise _fail(key, _redact_url(value), allowed)
    return value


def _duration(key: str, value: Any) -> str:
    if value == "never":
        return value
    m = _DURATION_RE.match(value) if isinstance(value, str) else None
    if not m or int(m.group(1)) < 1:
        raise _fail(key, value, "'never' or a positive duration such as '30d', '12w', '6m', '5y'")
    if m.group(2) == "d" and int(m.group(1)) < 7:
        raise _fail(key, value, "'never' or at least '7d'")
    return value


def _size(key: str, value: Any) -> int:
    units = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, None: 1}
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _SIZE_RE.match(value) if isinstance(value, str) else None
    if not m or int(m.group(1)) == 0:
        raise _fail(key, value, "a positive size such as 104857600 or '100 MiB' (units B, KiB, MiB, GiB)")
    return int(m.group(1)) * units[m.group(2)]


_MIME_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def _mime_list(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _MIME_RE.match(v) for v in value):
        raise _fail(key, value, "a list of lower-case MIME types such as [\"image/jpeg\", \"image/png\"]")
    return tuple(dict.fromkeys(value))


_ORIGIN_ALLOWED = ("a list of browser origins such as [\"https://chat.example.com\"] (scheme://host[:port], "
                   "http or https, no path), [\"*\"] for any origin, or [] for the web page's (web.public_url)")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """The serialised origin a browser sends: 'scheme://host[:port]', lower-case, no default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = parts.port
    shown_port = f":{port}" if port and port != _DEFAULT_PORTS.get(parts.scheme.lower()) else ""
    return f"{parts.scheme.lower()}://{host}{shown_port}"


def _origin(key: str, value: Any) -> str:
    if value == "*":
        return value
    if not isinstance(value, str):
        raise _fail(key, value, _ORIGIN_ALLOWED)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise _fail(key, value, _ORIGIN_ALLOWED) from None
    if (parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") or parts.query
            or parts.fragment or parts.username is not None or value != value.strip()):
        raise _fail(key, value, _ORIGIN_ALLOWED)
    return origin_of(value)


def _origin_list(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(key, value, _ORIGIN_ALLOWED)
    return tuple(dict.fromkeys(_origin(f"{key}[{i}]", item) for i, item in enumerate(value)))


def _seconds(low: int, high: int) -> Validator:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _fail(key, value, f"a number of seconds from {low} to {high}")
        return value

    return check


def _upload_config(values: dict[str, Any], directory: str) -> UploadConfig:
    """The [upload] section; a kind's limit may not exceed max_file_size, a type belongs to one kind."""
    kinds = ("picture", "video", "document")
    for kind in kinds:
        if values[f"{kind}_max_size"] > values["max_file_size"]:
            raise _fail(f"upload.{kind}_max_size", values[f"{kind}_max_size"],
                        f"a size not above upload.max_file_size ({values['max_file_size']} bytes)")
    seen: dict[str, str] = {}
    for kind in kinds:
        for mime in values[f"{kind}_types"]:
            if mime in seen:
                raise _fail(f"upload.{kind}_types", mime, f"a type not already in upload.{seen[mime]}_types")
            seen[mime] = kind
    return UploadConfig(**{**values, "directory": directory})


def _redact_url(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


# -------------------------------------------------------------------------------------------------- schema
# section -> key -> (validator, default). A default of REQUIRED means the key must be present.
REQUIRED = object()

SCHEMA: dict[str, dict[str, tuple[Validator, Any]]] = {
    "": {
        "state_directory": (_string(), "state"),
        "log_level": (_choice(*_LOG_LEVELS), "info"),
    },
    "xmpp": {
        "domain": (_domain, REQUIRED),
        "server": (_choice(*_SERVER_KINDS), "prosody"),
        "server_host": (_host, "127.0.0.1"),
        "client_interfaces": (_ip_list, ["127.0.0.1"]),
        "client_port": (_port, 5222),
        "http_port": (_port, 5280),
        "server_to_server": (_boolean, False),
        "session_hibernation": (_seconds(5, 3600), 45),
    },
    "component": {
        "jid": (_domain, REQUIRED),
        "secret": (_secret, REQUIRED),
        "port": (_port, 5347),
        "ping_interval": (_seconds(1, 300), 10),
        "ping_timeout": (_seconds(1, 60), 5),
    },
    "muc": {"host": (_domain, REQUIRED)},
    "database": {"url": (_database_url, "")},
    "http": {
        "api_listen": (_listen, "127.0.0.1:8780"),
        "api_public_url": (_url("http", "https"), "http://127.0.0.1:8780"),
        "upload_listen": (_listen, "127.0.0.1:8443"),
        "upload_public_url": (_url("https"), "https://127.0.0.1:8443"),
        "tls_certificate": (_string(allowed_empty=True), ""),
        "tls_key": (_string(allowed_empty=True), ""),
    },
    "upload": {
        "directory": (_string(allowed_empty=True), ""),
        "max_file_size": (_size, "100 MiB"),
        "picture_types": (_mime_list, ["image/jpeg", "image/png", "image/gif", "image/webp", "image/heic",
                                       "image/heif"]),
        "picture_max_size": (_size, "20 MiB"),
        "video_types": (_mime_list, ["video/mp4", "video/quicktime", "video/webm"]),
        "video_max_size": (_size, "100 MiB"),
        "document_types": (_mime_list, [
            "application/pdf", "text/plain", "text/csv",
            "application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
            "application/vnd.oasis.opendocument.presentation", "application/rtf"]),
        "document_max_size": (_size, "25 MiB"),
        "daily_quota": (_size, "1 GiB"),
        "slot_expires_after": (_seconds(10, 86400), 300),
        "cors_origins": (_origin_list, []),
    },
    "archive": {"retention": (_duration, "5y")},
    "api": {"token": (_secret, REQUIRED)},
    "demo": {"enabled": (_boolean, False)},
    "web": {
        "listen": (_listen, "127.0.0.1:8790"),
        "public_url": (_url("http", "https"), "http://localhost:8790"),
        "websocket_url": (_url_or_empty("ws", "wss"), ""),
        "login_link_lifetime": (_seconds(10, 3600), 60),
        "session_lifetime": (_seconds(300, 30 * 86400), 43200),
    },
    "ejabberd": {
        "node": (_erlang_node, "ejabberd@127.0.0.1"),
        "distribution_port": (_port, 5210),
        "admin_api_port": (_port, 5285),
    },
}


def _section_values(raw: Mapping[str, Any], section: str) -> dict[str, Any]:
    keys = SCHEMA[section]
    data = raw if section == "" else raw.get(section, {})
    if not isinstance(data, Mapping):
        raise _fail(section, data, "a [" + section + "] table")
    out: dict[str, Any] = {}
    for name, value in data.items():
        if section == "" and isinstance(value, Mapping):
            continue  # a table: checked by parse_config
        path = f"{section}.{name}" if section else name
        if name not in keys:
            raise _fail(path, value, "one of the known keys: " + ", ".join(sorted(keys)) + " (unknown key)")
        out[name] = keys[name][0](path, value)
    for name, (validator, default) in keys.items():
        if name in out:
            continue
        path = f"{section}.{name}" if section else name
        if default is REQUIRED:
            raise ConfigError(path, "<missing>", "this key is required")
        out[name] = validator(path, default)
    return out


def parse_config(raw: Mapping[str, Any], base_dir: Path, source: Path | None = None) -> Config:
    """Validate a parsed TOML document. Relative paths are taken from `base_dir` (the file's folder)."""
    top = _section_values(raw, "")
    for name, value in raw.items():
        if isinstance(value, Mapping) and name not in SCHEMA:
            raise _fail(name, "[" + name + "]", "one of the known sections: "
                        + ", ".join(sorted(k for k in SCHEMA if k)) + " (unknown section)")
    s = {name: _section_values(raw, name) for name in SCHEMA if name}
    state = Path(top["state_directory"])
    state = state if state.is_absolute() else (base_dir / state).resolve()
    upload_dir = s["upload"]["directory"]
    if upload_dir and not Path(upload_dir).is_absolute():
        upload_dir = str((base_dir / upload_dir).resolve())

    domain = s["xmpp"]["domain"]
    for key, host in (("component.jid", s["component"]["jid"]), ("muc.host", s["muc"]["host"])):
        if host == domain:
            raise _fail(key, host, f"a host name different from xmpp.domain ('{domain}')")
    http = s["http"]
    if bool(http["tls_certificate"]) != bool(http["tls_key"]):
        key = "http.tls_key" if http["tls_certificate"] else "http.tls_certificate"
        raise _fail(key, "", "set together with " + ("http.tls_certificate" if http["tls_certificate"]
                                                      else "http.tls_key") + ", or both left empty")
    for key in ("tls_certificate", "tls_key"):
        if http[key] and not Path(http[key]).is_absolute():
            http[key] = str((base_dir / http[key]).resolve())
    web_host = urlsplit(s["web"]["public_url"]).hostname
    if web_host == urlsplit(http["upload_public_url"]).hostname:
        raise _fail("web.public_url", s["web"]["public_url"],
                    f"a host name different from http.upload_public_url's ({web_host!r}), so that the page's "
                    "cookie never reaches the upload host (e.g. 'http://localhost:8790' beside "
                    "'https://127.0.0.1:8443')")
    if s["component"]["jid"] == s["muc"]["host"]:
        raise _fail("muc.host", s["muc"]["host"], "a host name different from component.jid")
    if s["component"]["jid"] != f"{s['component']['jid'].split('.', 1)[0]}.{domain}":
        raise _fail("component.jid", s["component"]["jid"],
                    f"a direct subdomain of xmpp.domain such as 'chat.{domain}' (so clients discover it)")
    ports = {"xmpp.client_port": s["xmpp"]["client_port"], "xmpp.http_port": s["xmpp"]["http_port"],
             "component.port": s["component"]["port"]}
    if s["xmpp"]["server"] == "ejabberd":
        ports.update({"ejabberd.distribution_port": s["ejabberd"]["distribution_port"],
                      "ejabberd.admin_api_port": s["ejabberd"]["admin_api_port"]})
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            raise _fail(key, port, f"a port different from {seen[port]}")
        seen[port] = key

    return Config(
        state_directory=state,
        log_level=top["log_level"],
        xmpp=XmppConfig(**s["xmpp"]),
        component=ComponentConfig(**s["component"]),
        muc=MucConfig(**s["muc"]),
        database=DatabaseConfig(**s["database"]),
        http=HttpConfig(**s["http"]),
        upload=_upload_config(s["upload"], upload_dir),
        archive=ArchiveConfig(**s["archive"]),
        api=ApiConfig(**s["api"]),
        demo=DemoConfig(**s["demo"]),
        web=WebConfig(**s["web"]),
        ejabberd=EjabberdConfig(**s["ejabberd"]),
        source=source,
    )


def load_config(path: Path) -> Config:
    """Read and validate a config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("--config", str(path), f"a readable TOML file ({exc.strerror})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", str(path), f"valid TOML ({exc})") from None
    return parse_config(raw, path.resolve().parent, source=path.resolve())


def retention_seconds(retention: str) -> int | None:
    """'never' -> None; '5y' -> seconds (a month is 30 days, a year 365)."""
    if retention == "never":
        return None
    m = _DURATION_RE.match(retention)
    assert m, retention
    days = {"d": 1, "w": 7, "m": 30, "y": 365}[m.group(2)] * int(m.group(1))
    return days * 86400
