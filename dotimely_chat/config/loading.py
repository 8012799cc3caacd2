"""Reading config.toml: each section checked against `SCHEMA`, then the rules that relate several keys.

Loading rejects unknown keys and bad values with a `ConfigError` that names the key path, the value and what
is allowed, so an operator can fix the file without reading code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from .schema import (
    REQUIRED,
    SCHEMA,
    ApiConfig,
    ArchiveConfig,
    ComponentConfig,
    Config,
    DatabaseConfig,
    DemoConfig,
    EjabberdConfig,
    HttpConfig,
    MucConfig,
    UploadConfig,
    WebConfig,
    XmppConfig,
)

_UPLOAD_KINDS = ("picture", "video", "document")


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


def parse_config(raw: Mapping[str, Any], base_dir: Path, source: Path | None = None) -> Config:
    """Validate a parsed TOML document. Relative paths are taken from `base_dir` (the file's folder)."""
    top = _section_values(raw, "")
    for name, value in raw.items():
        if isinstance(value, Mapping) and name not in SCHEMA:
            raise ConfigError(name, "[" + name + "]", "one of the known sections: "
                              + ", ".join(sorted(k for k in SCHEMA if k)) + " (unknown section)")
    s = {name: _section_values(raw, name) for name in SCHEMA if name}
    _check_relations(s)
    _cluster_first_node(raw, s["ejabberd"])

    http = s["http"]
    for key in ("tls_certificate", "tls_key"):
        http[key] = _from(base_dir, http[key])
    return Config(
        state_directory=Path(_from(base_dir, top["state_directory"])),
        log_level=top["log_level"],
        xmpp=XmppConfig(**s["xmpp"]),
        component=ComponentConfig(**s["component"]),
        muc=MucConfig(**s["muc"]),
        database=DatabaseConfig(**s["database"]),
        http=HttpConfig(**http),
        upload=_upload_config(s["upload"], _from(base_dir, s["upload"]["directory"])),
        archive=ArchiveConfig(**s["archive"]),
        api=ApiConfig(**s["api"]),
        demo=DemoConfig(**s["demo"]),
        web=WebConfig(**s["web"]),
        ejabberd=EjabberdConfig(**s["ejabberd"]),
        source=source,
    )


def _section_values(raw: Mapping[str, Any], section: str) -> dict[str, Any]:
    """One section's keys, each checked by its validator; missing keys get their default."""
    keys = SCHEMA[section]
    data = raw if section == "" else raw.get(section, {})
    if not isinstance(data, Mapping):
        raise ConfigError(section, data, "a [" + section + "] table")
    out: dict[str, Any] = {}
    for name, value in data.items():
        if section == "" and isinstance(value, Mapping):
            continue  # a table: checked by parse_config
        path = f"{section}.{name}" if section else name
        if name not in keys:
            raise ConfigError(path, value,
                              "one of the known keys: " + ", ".join(sorted(keys)) + " (unknown key)")
        out[name] = keys[name][0](path, value)
    for name, (validator, default) in keys.items():
        if name in out:
            continue
        path = f"{section}.{name}" if section else name
        if default is REQUIRED:
            raise ConfigError(path, "<missing>", "this key is required")
        out[name] = validator(path, default)
    return out


def _check_relations(s: Mapping[str, Mapping[str, Any]]) -> None:
    """The rules between keys of different sections: distinct host names, TLS files in pairs, free ports."""
    domain = s["xmpp"]["domain"]
    for key, host in (("component.jid", s["component"]["jid"]), ("muc.host", s["muc"]["host"])):
        if host == domain:
            raise ConfigError(key, host, f"a host name different from xmpp.domain ('{domain}')")
    http = s["http"]
    if bool(http["tls_certificate"]) != bool(http["tls_key"]):
        key = "http.tls_key" if http["tls_certificate"] else "http.tls_certificate"
        raise ConfigError(key, "", "set together with " + ("http.tls_certificate" if http["tls_certificate"]
                                                            else "http.tls_key") + ", or both left empty")
    web_host = urlsplit(s["web"]["public_url"]).hostname
    if web_host == urlsplit(http["upload_public_url"]).hostname:
        raise ConfigError("web.public_url", s["web"]["public_url"],
                          f"a host name different from http.upload_public_url's ({web_host!r}), so that the "
                          "page's cookie never reaches the upload host (e.g. 'http://localhost:8790' beside "
                          "'https://127.0.0.1:8443')")
    if s["component"]["jid"] == s["muc"]["host"]:
        raise ConfigError("muc.host", s["muc"]["host"], "a host name different from component.jid")
    if s["component"]["jid"] != f"{s['component']['jid'].split('.', 1)[0]}.{domain}":
        raise ConfigError("component.jid", s["component"]["jid"],
                          f"a direct subdomain of xmpp.domain such as 'chat.{domain}' "
                          "(so clients discover it)")
    ports = {"xmpp.client_port": s["xmpp"]["client_port"], "xmpp.http_port": s["xmpp"]["http_port"],
             "component.port": s["component"]["port"]}
    if s["xmpp"]["server"] == "ejabberd":
        ports.update({"ejabberd.distribution_port": s["ejabberd"]["distribution_port"],
                      "ejabberd.admin_api_port": s["ejabberd"]["admin_api_port"]})
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            raise ConfigError(key, port, f"a port different from {seen[port]}")
        seen[port] = key


def _cluster_first_node(raw: Mapping[str, Any], ejabberd: dict[str, Any]) -> None:
    """With ejabberd.nodes, ejabberd.node is the first of them (left out, or the same)."""
    nodes = ejabberd["nodes"]
    if not nodes:
        return
    section = raw.get("ejabberd", {})
    if "node" in section and section["node"] != nodes[0]:
        raise ConfigError("ejabberd.node", section["node"],
                          f"left out, or the first of ejabberd.nodes ({nodes[0]!r}), when ejabberd.nodes is set")
    ejabberd["node"] = nodes[0]


def _upload_config(values: dict[str, Any], directory: str) -> UploadConfig:
    """The [upload] section; a kind's limit may not exceed max_file_size, a type belongs to one kind."""
    for kind in _UPLOAD_KINDS:
        if values[f"{kind}_max_size"] > values["max_file_size"]:
            raise ConfigError(f"upload.{kind}_max_size", values[f"{kind}_max_size"],
                              f"a size not above upload.max_file_size ({values['max_file_size']} bytes)")
    seen: dict[str, str] = {}
    for kind in _UPLOAD_KINDS:
        for mime in values[f"{kind}_types"]:
            if mime in seen:
                raise ConfigError(f"upload.{kind}_types", mime,
                                  f"a type not already in upload.{seen[mime]}_types")
            seen[mime] = kind
    return UploadConfig(**{**values, "directory": directory})


def _from(base_dir: Path, path: str) -> str:
    """A path of the file taken from the file's folder when relative; '' (the default location) stays ''."""
    if not path or Path(path).is_absolute():
        return path
    return str((base_dir / path).resolve())
