"""Config loading: the shipped file is valid; every bad value names the key, the value and what is allowed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dotimely_chat.config import (
    EXAMPLE_API_TOKEN,
    EXAMPLE_COMPONENT_SECRET,
    load_config,
    parse_config,
    retention_seconds,
)
from dotimely_chat.errors import ConfigError
from dotimely_chat.secret_store import refuse_example_secrets, resolve_secrets

ROOT = Path(__file__).resolve().parents[2]


def minimal(**sections: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "xmpp": {"domain": "example.org"},
        "component": {"jid": "chat.example.org", "secret": "s" * 24},
        "muc": {"host": "rooms.example.org"},
        "api": {"token": "t" * 24},
    }
    for section, values in sections.items():
        doc.setdefault(section, {}).update(values)
    return doc


def test_shipped_config_is_valid_and_in_demo_mode() -> None:
    config = load_config(ROOT / "config.toml")
    assert config.demo.enabled is True
    assert config.state_directory == ROOT / "state"
    assert config.database.url == ""
    assert config.archive.retention == "5y"
    assert sorted(config.uses_example_secrets()) == ["api.token", "component.secret"]


def test_shipped_config_documents_every_key() -> None:
    from dotimely_chat.config import SCHEMA

    text = (ROOT / "config.toml").read_text()
    for section, keys in SCHEMA.items():
        if section:
            assert f"[{section}]" in text
        for key in keys:
            assert f"\n{key} = " in text, f"{section}.{key} is not in config.toml"


def test_defaults_fill_optional_keys(tmp_path: Path) -> None:
    config = parse_config(minimal(), tmp_path)
    assert config.xmpp.client_port == 5222
    assert config.component.port == 5347
    assert config.http.api_listen.port == 8780
    assert config.upload.max_file_size == 100 * 1024 * 1024
    assert config.upload_directory == tmp_path / "state" / "uploads"
    assert config.demo.enabled is False


BAD_VALUES = [
    ({"xmpp": {"domain": "Not A Domain"}}, "xmpp.domain", "Not A Domain", "DNS name"),
    ({"xmpp": {"client_port": 70000}}, "xmpp.client_port", "70000", "from 1 to 65535"),
    ({"xmpp": {"client_port": "5222"}}, "xmpp.client_port", "'5222'", "integer port"),
    ({"xmpp": {"server": "openfire"}}, "xmpp.server", "openfire", "'prosody', 'ejabberd'"),
    ({"xmpp": {"client_interfaces": ["nowhere"]}}, "xmpp.client_interfaces[0]", "nowhere", "IP address"),
    ({"component": {"secret": "short"}}, "component.secret", "<hidden>", "at least 16 characters"),
    ({"component": {"jid": "chat.elsewhere.org"}}, "component.jid", "chat.elsewhere.org", "direct subdomain"),
    ({"muc": {"host": "example.org"}}, "muc.host", "example.org", "different from xmpp.domain"),
    ({"http": {"api_listen": "8780"}}, "http.api_listen", "8780", "HOST:PORT"),
    ({"http": {"upload_public_url": "http://files.example.org"}}, "http.upload_public_url",
     "http://files.example.org", "https://"),
    ({"http": {"tls_certificate": "/etc/cert.pem"}}, "http.tls_key", "", "set together with"),
    ({"database": {"url": "mysql://db/x"}}, "database.url", "mysql://db/x", "postgresql://"),
    ({"archive": {"retention": "1w1d"}}, "archive.retention", "1w1d", "'never' or a positive duration"),
    ({"archive": {"retention": "3d"}}, "archive.retention", "3d", "at least '7d'"),
    ({"upload": {"max_file_size": "lots"}}, "upload.max_file_size", "lots", "MiB"),
    ({"demo": {"enabled": "yes"}}, "demo.enabled", "yes", "true or false"),
    ({"xmpp": {"http_port": 5347}}, "component.port", "5347", "different from xmpp.http_port"),
]


@pytest.mark.parametrize(("override", "key", "value", "allowed"), BAD_VALUES,
                         ids=[case[1] + ":" + str(case[2]) for case in BAD_VALUES])
def test_bad_value_names_key_value_and_what_is_allowed(
    tmp_path: Path, override: dict[str, Any], key: str, value: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(minimal(**override), tmp_path)
    message = str(caught.value)
    assert f"'{key}'" in message
    assert value in message
    assert allowed in message


def test_unknown_key_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'xmpp.domian'.*unknown key") as caught:
        parse_config(minimal(xmpp={"domian": "x"}), tmp_path)
    assert "domain" in str(caught.value)


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    doc = minimal()
    doc["databse"] = {"url": ""}
    with pytest.raises(ConfigError, match=r"'databse'.*unknown section"):
        parse_config(doc, tmp_path)


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    doc = minimal()
    del doc["muc"]
    with pytest.raises(ConfigError, match=r"'muc.host'.*required"):
        parse_config(doc, tmp_path)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[xmpp\ndomain = 1")
    with pytest.raises(ConfigError, match="valid TOML"):
        load_config(path)


def test_retention_in_seconds() -> None:
    assert retention_seconds("never") is None
    assert retention_seconds("30d") == 30 * 86400
    assert retention_seconds("5y") == 5 * 365 * 86400


def test_example_secrets_are_refused_outside_demo_mode(tmp_path: Path) -> None:
    doc = minimal(component={"secret": EXAMPLE_COMPONENT_SECRET}, api={"token": EXAMPLE_API_TOKEN})
    config = parse_config(doc, tmp_path)
    with pytest.raises(ConfigError, match="'component.secret'.*only accepted with demo.enabled"):
        refuse_example_secrets(config)
    refuse_example_secrets(parse_config(minimal(**doc, demo={"enabled": True}), tmp_path))


def test_up_generates_real_secrets_once_and_keeps_them(tmp_path: Path) -> None:
    doc = minimal(component={"secret": EXAMPLE_COMPONENT_SECRET}, api={"token": EXAMPLE_API_TOKEN})
    config = parse_config(doc, tmp_path)
    assert resolve_secrets(config, generate=False) == config  # nothing stored yet, nothing made
    first = resolve_secrets(config, generate=True)
    assert first.component.secret != EXAMPLE_COMPONENT_SECRET and len(first.component.secret) >= 40
    assert first.api.token != EXAMPLE_API_TOKEN
    refuse_example_secrets(first)
    stored = config.state_directory / "secrets.json"
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    again = resolve_secrets(config, generate=False)
    assert (again.component.secret, again.api.token) == (first.component.secret, first.api.token)


def test_own_secrets_are_used_as_given(tmp_path: Path) -> None:
    config = parse_config(minimal(), tmp_path)
    assert resolve_secrets(config, generate=True) == config
    assert not (config.state_directory / "secrets.json").exists()


def test_cli_reports_bad_config_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text((ROOT / "config.toml").read_text().replace("client_port = 5222", "client_port = 0"))
    result = subprocess.run([sys.executable, "-m", "dotimely_chat", "--config", str(path), "up"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert "'xmpp.client_port'" in result.stderr and "0" in result.stderr and "65535" in result.stderr
    assert "Traceback" not in result.stderr
