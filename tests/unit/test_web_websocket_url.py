"""Where the web page's Converse connects (Config.websocket_urls) is where the rendered server config serves
its websocket: one ejabberd node, every node of a cluster in order (each node listens on its own address only;
the page goes on to the next when one goes), or web.websocket_url when a proxy stands in front; the page's CSP
lets exactly those origins in."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotimely_chat.config import Config, parse_config
from dotimely_chat.servers.ejabberd_cluster import node_config
from dotimely_chat.servers.ejabberd_config import EjabberdPaths, ejabberd_config_document
from dotimely_chat.web.page import content_security_policy, page_settings

from ..support.config import config_document


def _ejabberd(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    xmpp = {"server": "ejabberd", **sections.pop("xmpp", {})}
    return parse_config(config_document(tmp_path, xmpp=xmpp, **sections), tmp_path)


def _websockets(config: Config) -> set[tuple[str, int, str]]:
    """(address, port, path) of every ejabberd_http_ws handler in the node's ejabberd.yml."""
    document = ejabberd_config_document(config, EjabberdPaths.for_config(config))
    return {(item["ip"], item["port"], path) for item in document["listen"] if item["module"] == "ejabberd_http"
            for path, handler in item.get("request_handlers", {}).items() if handler == "ejabberd_http_ws"}


def _target(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    assert parts.scheme == "ws" and parts.hostname and parts.port, url
    return parts.hostname, parts.port, parts.path


def test_one_ejabberd_node_the_page_connects_to_its_websocket(tmp_path: Path) -> None:
    config = _ejabberd(tmp_path)
    assert _target(config.websocket_url) in _websockets(node_config(config, config.ejabberd.node))
    assert f"connect-src 'self' ws://127.0.0.1:{config.xmpp.http_port} " in content_security_policy(config)


def test_in_a_cluster_the_page_knows_every_node_on_its_own_address_the_first_first(tmp_path: Path) -> None:
    nodes = ["ejabberd@127.0.0.2", "ejabberd@127.0.0.3"]  # xmpp.client_interfaces stays 127.0.0.1
    config = _ejabberd(tmp_path, ejabberd={"nodes": nodes})
    targets = [_target(url) for url in config.websocket_urls]
    assert [t[0] for t in targets] == ["127.0.0.2", "127.0.0.3"]
    assert _target(config.websocket_url) == targets[0]
    for node, target, other in zip(nodes, targets, reversed(targets), strict=True):
        assert target in _websockets(node_config(config, node))
        assert other not in _websockets(node_config(config, node))
    policy = content_security_policy(config)
    assert f"ws://127.0.0.2:{config.xmpp.http_port} ws://127.0.0.3:{config.xmpp.http_port} " in policy
    assert page_settings(config)["websocket_urls"] == list(config.websocket_urls)


def test_one_node_and_prosody_give_the_page_one_url(tmp_path: Path) -> None:
    for server in ("prosody", "ejabberd"):
        config = _ejabberd(tmp_path, xmpp={"server": server})
        assert page_settings(config)["websocket_urls"] == [config.websocket_url]


def test_a_configured_websocket_url_wins_on_either_server(tmp_path: Path) -> None:
    url = "wss://chat.example.com/xmpp-websocket"
    for server in ("prosody", "ejabberd"):
        config = _ejabberd(tmp_path, xmpp={"server": server}, web={"websocket_url": url})
        assert config.websocket_url == url
        assert "connect-src 'self' wss://chat.example.com " in content_security_policy(config)
