"""The validators of single config values, and the value types and conversions they share.

Each validator takes the key path and the raw TOML value and returns the checked value, or raises a
`ConfigError` naming the key path, the value and what is allowed. Rules that relate several keys live in
`loading.py`; which key uses which validator is the table in `schema.py`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError

DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_DURATION_RE = re.compile(r"^(\d+)([dwmy])$")
_SIZE_RE = re.compile(r"^(\d+)\s*(B|KiB|MiB|GiB)?$")

Validator = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Listen:
    """A listening address (`HOST:PORT` in the file), the value of the `*listen` keys."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _fail(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(key, value, allowed)


def string(allowed_empty: bool = False) -> Validator:
    def check(key: str, value: Any) -> str:
        if not isinstance(value, str) or (not allowed_empty and not value.strip()):
            raise _fail(key, value, "a non-empty string" if not allowed_empty else "a string")
        return value

    return check


def secret(key: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) < 16:
        shown = "<hidden>" if isinstance(value, str) else value
        raise _fail(key, shown, "a string of at least 16 characters")
    return value


def domain(key: str, value: Any) -> str:
    if not isinstance(value, str) or not DOMAIN_RE.match(value):
        raise _fail(key, value, "a lower-case DNS name such as 'example.com' (letters, digits, '-', '.')")
    return value


def port(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _fail(key, value, "an integer port from 1 to 65535")
    return value


def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, value, "true or false")
    return value


def choice(*choices: str) -> Validator:
    def check(key: str, value: Any) -> str:
        if value not in choices:
            raise _fail(key, value, "one of " + ", ".join(repr(c) for c in choices))
        return value

    return check


def ip(key: str, value: Any) -> str:
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        raise _fail(key, value, "an IP address such as '127.0.0.1' or '::1'") from None
    return str(value)


def ip_list(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(key, value, "a non-empty list of IP addresses, e.g. [\"127.0.0.1\"]")
    return tuple(ip(f"{key}[{i}]", item) for i, item in enumerate(value))


_NODE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def erlang_node(key: str, value: Any) -> str:
    allowed = "an Erlang node name NAME@IP such as 'ejabberd@127.0.0.1' (the IP is where the node listens)"
    if not isinstance(value, str) or value.count("@") != 1 or not _NODE_NAME_RE.match(value.split("@")[0]):
        raise _fail(key, value, allowed)
    try:
        ip(key, value.split("@")[1])
    except ConfigError:
        raise _fail(key, value, allowed) from None
    return value


def erlang_cluster(key: str, value: Any) -> tuple[str, ...]:
    """ejabberd.nodes: [] (one node) or two or more nodes on distinct loopback addresses of this machine."""
    if not isinstance(value, list):
        raise _fail(key, value, "a list of Erlang node names, e.g. [\"ejabberd@127.0.0.1\", \"ejabberd@127.0.0.2\"]")
    nodes = tuple(erlang_node(f"{key}[{i}]", item) for i, item in enumerate(value))
    if len(nodes) == 1:
        raise _fail(key, value, "[] for one node (ejabberd.node), or two or more nodes")
    seen: dict[str, str] = {}
    for i, node in enumerate(nodes):
        address = node.split("@")[1]
        if not ipaddress.ip_address(address).is_loopback or ipaddress.ip_address(address).version != 4:
            raise _fail(f"{key}[{i}]", node, "a node on a loopback address 127.0.0.x: the nodes run here, side "
                        "by side on the same ports, one address each")
        if address in seen:
            raise _fail(f"{key}[{i}]", node, f"a node on an address of its own ({seen[address]} is on {address})")
        seen[address] = node
    return nodes


def host(key: str, value: Any) -> str:
    if isinstance(value, str):
        try:
            return ip(key, value)
        except ConfigError:
            pass
        if value == "localhost" or DOMAIN_RE.match(value):
            return value
    raise _fail(key, value, "an IP address or a host name")


def listen(key: str, value: Any) -> Listen:
    allowed = "'HOST:PORT', e.g. '127.0.0.1:8780' or '[::1]:8780'"
    if not isinstance(value, str):
        raise _fail(key, value, allowed)
    m = re.fullmatch(r"\[([0-9a-fA-F:]+)\]:(\d+)|([^:\[\]]+):(\d+)", value)
    if not m:
        raise _fail(key, value, allowed)
    address = m.group(1) or m.group(3)
    number = int(m.group(2) or m.group(4))
    try:
        host(key, address)
        port(key, number)
    except ConfigError:
        raise _fail(key, value, allowed + " with a valid address and a port from 1 to 65535") from None
    return Listen(address, number)


def url(*schemes: str) -> Validator:
    def check(key: str, value: Any) -> str:
        allowed = "an absolute URL starting with " + " or ".join(f"{s}://" for s in schemes)
        if not isinstance(value, str):
            raise _fail(key, value, allowed)
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname or parts.query or parts.fragment:
            raise _fail(key, value, allowed + " without query or fragment")
        return value.rstrip("/")

    return check


def url_or_empty(*schemes: str) -> Validator:
    check_url = url(*schemes)

    def check(key: str, value: Any) -> str:
        return "" if value == "" else check_url(key, value)

    return check


def database_url(key: str, value: Any) -> str:
    if value == "":
        return ""
    allowed = "'' (SQLite in the state directory), 'sqlite:///PATH' or 'postgresql://USER@HOST:PORT/DB'"
    if not isinstance(value, str):
        raise _fail(key, value, allowed)
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in ("sqlite", "sqlite+aiosqlite", "postgresql", "postgres", "postgresql+asyncpg"):
        raise _fail(key, _redact_url(value), allowed)
    return value


def duration(key: str, value: Any) -> str:
    if value == "never":
        return value
    m = _DURATION_RE.match(value) if isinstance(value, str) else None
    if not m or int(m.group(1)) < 1:
        raise _fail(key, value, "'never' or a positive duration such as '30d', '12w', '6m', '5y'")
    if m.group(2) == "d" and int(m.group(1)) < 7:
        raise _fail(key, value, "'never' or at least '7d'")
    return value


def size(key: str, value: Any) -> int:
    units = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, None: 1}
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _SIZE_RE.match(value) if isinstance(value, str) else None
    if not m or int(m.group(1)) == 0:
        raise _fail(key, value, "a positive size such as 104857600 or '100 MiB' (units B, KiB, MiB, GiB)")
    return int(m.group(1)) * units[m.group(2)]


_MIME_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def mime_list(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _MIME_RE.match(v) for v in value):
        raise _fail(key, value, "a list of lower-case MIME types such as [\"image/jpeg\", \"image/png\"]")
    return tuple(dict.fromkeys(value))


_ORIGIN_ALLOWED = ("a list of browser origins such as [\"https://chat.example.com\"] (scheme://host[:port], "
                   "http or https, no path), [\"*\"] for any origin, or [] for the web page's "
                   "(web.public_url)")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """The serialised origin a browser sends: 'scheme://host[:port]', lower-case, no default port."""
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    hostname = f"[{hostname}]" if ":" in hostname else hostname
    number = parts.port
    shown_port = f":{number}" if number and number != _DEFAULT_PORTS.get(parts.scheme.lower()) else ""
    return f"{parts.scheme.lower()}://{hostname}{shown_port}"


def origin(key: str, value: Any) -> str:
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


def origin_list(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(key, value, _ORIGIN_ALLOWED)
    return tuple(dict.fromkeys(origin(f"{key}[{i}]", item) for i, item in enumerate(value)))


def seconds(low: int, high: int) -> Validator:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _fail(key, value, f"a number of seconds from {low} to {high}")
        return value

    return check


def _redact_url(address: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", address)


def retention_seconds(retention: str) -> int | None:
    """'never' -> None; '5y' -> seconds (a month is 30 days, a year 365)."""
    if retention == "never":
        return None
    m = _DURATION_RE.match(retention)
    assert m, retention
    days = {"d": 1, "w": 7, "m": 30, "y": 365}[m.group(2)] * int(m.group(1))
    return days * 86400
