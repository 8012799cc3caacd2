"""ejabberd.nodes: the names and addresses checked, and what each node of a cluster is rendered from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dotimely_chat.config import Config, parse_config
from dotimely_chat.errors import ConfigError
from dotimely_chat.servers.ejabberd_cluster import node_config, share_cookie
from dotimely_chat.servers.ejabberd_config import EjabberdPaths, ejabberd_config_document, ejabberdctl_values

from ..support.config import config_document

TWO = ["ejabberd@127.0.0.1", "ejabberd@127.0.0.2"]


def _config(tmp_path: Path, **ejabberd: Any) -> Config:
    return parse_config(config_document(tmp_path, xmpp={"server": "ejabberd"}, ejabberd=ejabberd), tmp_path)


def test_one_node_is_the_default_and_listens_as_before(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert config.ejabberd.cluster == ("ejabberd@127.0.0.1",) and not config.ejabberd.clustered
    view = node_config(config, config.ejabberd.node)
    assert view == config
    paths = EjabberdPaths.for_config(view)
    assert paths == EjabberdPaths.in_state(config.state_directory)
    listeners = {item["module"] + str(item["port"]): item["ip"]
                 for item in ejabberd_config_document(view, paths)["listen"]}
    assert listeners[f"ejabberd_service{config.component.port}"] == "127.0.0.1"
    assert listeners[f"ejabberd_http{config.ejabberd.admin_api_port}"] == "127.0.0.1"


def test_each_node_of_a_cluster_listens_on_its_own_address_with_the_same_ports(tmp_path: Path) -> None:
    config = _config(tmp_path, nodes=TWO)
    assert config.ejabberd.node == TWO[0] and config.ejabberd.cluster == tuple(TWO)
    roots = set()
    for name in TWO:
        view = node_config(config, name)
        address = name.split("@")[1]
        paths = EjabberdPaths.for_config(view)
        roots.add(paths.root)
        assert paths.root == config.state_directory / "ejabberd" / "nodes" / name
        document = ejabberd_config_document(view, paths)
        assert {item["ip"] for item in document["listen"]} == {address}
        assert {item["port"] for item in document["listen"]} == {
            config.xmpp.client_port, config.xmpp.http_port, config.component.port, config.ejabberd.admin_api_port}
        values = ejabberdctl_values(view, paths)
        assert values["ERLANG_NODE"] == name and values["INET_DIST_INTERFACE"] == address
        assert values["ERL_DIST_PORT"] == str(config.ejabberd.distribution_port)
        assert view.xmpp.server_host == address
    assert len(roots) == 2


@pytest.mark.parametrize(("nodes", "key", "allowed"), [
    (["ejabberd@127.0.0.1"], r"ejabberd\.nodes", "two or more nodes"),
    (["ejabberd@127.0.0.1", "other@127.0.0.1"], r"ejabberd\.nodes\[1\]", "an address of its own"),
    (["ejabberd@127.0.0.1", "ejabberd@127.0.0.1"], r"ejabberd\.nodes\[1\]", "an address of its own"),
    (["ejabberd@127.0.0.1", "ejabberd@10.0.0.2"], r"ejabberd\.nodes\[1\]", "loopback address 127.0.0.x"),
    (["ejabberd@127.0.0.1", "ejabberd"], r"ejabberd\.nodes\[1\]", "NAME@IP"),
    ("ejabberd@127.0.0.1", r"ejabberd\.nodes", "a list of Erlang node names"),
])
def test_bad_node_lists_are_named(tmp_path: Path, nodes: Any, key: str, allowed: str) -> None:
    with pytest.raises(ConfigError, match=f"{key}.*{allowed}"):
        _config(tmp_path, nodes=nodes)


def test_node_is_the_first_of_nodes_or_left_out(tmp_path: Path) -> None:
    assert _config(tmp_path, node=TWO[0], nodes=TWO).ejabberd.node == TWO[0]
    assert _config(tmp_path, nodes=list(reversed(TWO))).ejabberd.node == TWO[1]
    with pytest.raises(ConfigError, match=r"ejabberd\.node.*the first of ejabberd\.nodes"):
        _config(tmp_path, node=TWO[1], nodes=TWO)


def test_every_node_gets_the_first_nodes_cookie(tmp_path: Path) -> None:
    paths = [EjabberdPaths(tmp_path / name) for name in ("a", "b", "c")]
    paths[2].home_dir.mkdir(parents=True)
    paths[2].cookie_file.write_bytes(b"ANOTHERCOOKIE")
    share_cookie(paths)
    cookies = {p.cookie_file.read_bytes() for p in paths}
    assert len(cookies) == 1 and b"ANOTHERCOOKIE" not in cookies
    assert all(os.stat(p.cookie_file).st_mode & 0o777 == 0o400 for p in paths)
    share_cookie(paths)  # again: nothing changes
    assert {p.cookie_file.read_bytes() for p in paths} == cookies
