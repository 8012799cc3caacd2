"""Our ejabberd modules (mod_dotimely_guard, _markers, _presence): compiled with Debian's erlc for each node,
on the node's code path, loaded from ejabberd.yml with their options (no node needed; the guard's rules are
tested in test_one_to_one_rules.py, the markers in test_status.py and test_ejabberd_rooms.py, the presence
in test_presence.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dotimely_chat.policies.contacts import ONE_TO_ONE_REFUSAL
from dotimely_chat.servers import ejabberd_erlc
from dotimely_chat.servers.ejabberd_config import EjabberdPaths, ejabberd_config_document
from dotimely_chat.servers.ejabberd_erlc import ModuleBuildError, compile_modules
from dotimely_chat.servers.ejabberd_process import EjabberdError, EjabberdProcess, erl_libs, prepare_ejabberd_files

from ..support.config import make_test_config

BROKEN = "-module(mod_broken).\n-export([start/2]).\nstart(_Host, _Opts) -> ok\n"  # no final full stop


def test_the_guard_is_loaded_ahead_of_mod_block_strangers_with_its_options(tmp_path: Path) -> None:
    config = make_test_config(tmp_path / "state", xmpp={"server": "ejabberd"})
    modules = ejabberd_config_document(config, EjabberdPaths.in_state(config.state_directory))["modules"]
    assert modules["mod_dotimely_guard"] == {"groupchat_senders": [config.muc.host], "access": "strangers_ok",
                                             "refusal_text": ONE_TO_ONE_REFUSAL}
    assert "mod_block_strangers" in modules  # kept behind it
    assert modules["mod_dotimely_markers"] == {}  # room read markers archived (test_status.py)
    assert modules["mod_dotimely_presence"] == {"hibernation": config.xmpp.session_hibernation}  # test_presence.py


def test_the_node_runs_with_the_compiled_modules_on_its_code_path(tmp_path: Path) -> None:
    node = EjabberdProcess(make_test_config(tmp_path / "state", xmpp={"server": "ejabberd"}))
    command = node._erl_command()
    assert command[command.index("-pa") + 1] == str(node.paths.modules_dir)


def test_the_guard_compiles_once_and_again_when_its_source_changes(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "ebin"
    assert compile_modules(target, erl_libs()) == ["mod_dotimely_component", "mod_dotimely_guard",
                                                   "mod_dotimely_markers", "mod_dotimely_presence",
                                                   "mod_dotimely_routes"]
    beam = target / "mod_dotimely_guard.beam"
    assert beam.read_bytes()[:4] == b"FOR1"
    os.utime(beam, (1, 1))  # an unchanged source is not compiled again
    compile_modules(target, erl_libs())
    assert beam.stat().st_mtime == 1

    sources = tmp_path / "sources"
    sources.mkdir()
    changed = (ejabberd_erlc.SOURCES_DIR / "mod_dotimely_guard.erl").read_text() + "\n%% changed\n"
    (sources / "mod_dotimely_guard.erl").write_text(changed)
    monkeypatch.setattr(ejabberd_erlc, "SOURCES_DIR", sources)
    compile_modules(target, erl_libs())
    assert beam.stat().st_mtime > 1


def test_a_module_that_does_not_compile_is_named_with_erlcs_message(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "mod_broken.erl").write_text(BROKEN)
    monkeypatch.setattr(ejabberd_erlc, "SOURCES_DIR", sources)
    with pytest.raises(ModuleBuildError, match=r"(?s)the ejabberd module mod_broken \(.*mod_broken.erl\) does "
                                               r"not compile:\n.*mod_broken.erl:3:.*syntax error"):
        compile_modules(tmp_path / "ebin", erl_libs())
    assert not (tmp_path / "ebin" / "mod_broken.beam").exists()

    config = make_test_config(tmp_path / "state", xmpp={"server": "ejabberd"})
    with pytest.raises(EjabberdError, match="the ejabberd module mod_broken .* does not compile"):
        prepare_ejabberd_files(config, EjabberdPaths.for_config(config), None)


def test_missing_build_dependencies_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ejabberd_erlc, "OTP_LIB", tmp_path)
    with pytest.raises(ModuleBuildError, match=r"xmpp.hrl \(package erlang-p1-xmpp\) not found under"):
        compile_modules(tmp_path / "ebin", str(tmp_path))
