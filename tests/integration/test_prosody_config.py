"""The generated prosody.cfg.lua: what it must say, and Prosody's own check passes on it."""

from __future__ import annotations

import re
from pathlib import Path

from dotimely_chat.servers.prosody_config import ProsodyPaths, lua_str, render_prosody_config
from dotimely_chat.servers.prosody_process import check_prosody_config, prepare_prosody_files

from ..support.config import make_test_config, requires_prosody


def _render(tmp_path: Path, **sections: dict) -> str:
    config = make_test_config(tmp_path / "state", **sections)
    return render_prosody_config(config, ProsodyPaths.in_state(config.state_directory))


@requires_prosody
def test_prosodyctl_check_config_passes(tmp_path: Path) -> None:
    config = make_test_config(tmp_path / "state")
    paths = ProsodyPaths.in_state(config.state_directory)
    prepare_prosody_files(config, paths)
    result = check_prosody_config(paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed" in result.stdout


def test_retention_drives_both_archives(tmp_path: Path) -> None:
    text = _render(tmp_path, archive={"retention": "30d"})
    assert 'archive_expires_after = "30d"' in text
    assert 'muc_log_expires_after = "30d"' in text
    never = _render(tmp_path, archive={"retention": "never"})
    assert 'archive_expires_after = "never"' in never and 'muc_log_expires_after = "never"' in never


def test_the_one_week_server_default_never_applies(tmp_path: Path) -> None:
    """Both archives always get an explicit expiry (5 years by default), on SQL storage, and MAM pages are
    large enough for exports."""
    text = _render(tmp_path)
    assert 'archive_expires_after = "5y"' in text and 'muc_log_expires_after = "5y"' in text
    assert '"1w"' not in text and "expires_after = \"7d\"" not in text
    muc = text.split('Component "rooms.dotimely.test" "muc"')[1].split("Component")[0]
    assert "muc_log_expires_after" in muc, "mod_muc_mam reads its own option, per MUC component"
    assert 'storage = "sql"' in text
    assert "max_archive_query_results = 250" in text


def test_component_privileges_and_muc_rules(tmp_path: Path) -> None:
    text = _render(tmp_path)
    host_block = text.split('VirtualHost "dotimely.test"')[1].split("Component")[0]
    for expected in ('roster = "both"', 'message = "outgoing"', 'presence = "managed_entity"',
                     '["http://jabber.org/protocol/pubsub"] = "both"', '["urn:xmpp:mam:2"]'):
        assert expected in host_block
    muc = text.split('Component "rooms.dotimely.test" "muc"')[1].split("Component")[0]
    assert "restrict_room_creation = true" in muc
    assert '"chat.dotimely.test"' in muc and '"rooms@chat.dotimely.test"' in muc
    assert '"muc_mam"' in muc and "muc_room_default_members_only = true" in muc
    component = text.split('Component "chat.dotimely.test"')[1]
    assert '"privilege"' in component and "component_secret" in component
    assert 'dotimely_roster_components = { "chat.dotimely.test" }' in text
    for module in ("block_strangers", "dotimely_guard", "dotimely_roster", "dotimely_presence",
                   "mam", "carbons", "smacks", "csi_simple",
                   "lastactivity", "bookmarks", "pep", "websocket", "bosh", "privilege"):
        assert re.search(rf'"{module}";', text), module
    assert 'storage = "sql"' in text and 'driver = "SQLite3"' in text
    assert 'gc = { mode = "generational" }' in text
    assert 'component_interfaces = { "127.0.0.1" }' in text
    assert "proxy65" not in text


def test_lua_strings_are_escaped() -> None:
    assert lua_str('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


def test_mobile_push_is_on_without_bodies_or_senders(tmp_path: Path) -> None:
    """XEP-0357 for phones (Conversations, Monal, Siskin), with what mod_cloud_notify needs beside it."""
    text = _render(tmp_path)
    modules = text.split("modules_enabled = {")[1].split("}")[0]
    for module in ('"cloud_notify"', '"smacks"', '"carbons"', '"mam"'):
        assert module in modules
    assert "push_notification_with_body = false" in text
    assert "push_notification_with_sender = false" in text
    assert 'modules_disabled = { "s2s" }' in text  # the local demo keeps server-to-server closed


def test_a_lost_session_hibernates_for_the_configured_time(tmp_path: Path) -> None:
    """Prosody's 600 s kept a closed page online for ten minutes; push-enabled phones keep mod_cloud_notify's
    longer hibernation (rooms keep pushing) and mod_dotimely_presence shows them gone after the same time."""
    text = _render(tmp_path)
    assert "smacks_hibernation_time = 45\n" in text and "push_max_hibernation_timeout =" not in text
    assert 'dotimely_presence_watchers = { "chat.dotimely.test" }' in text
    config = make_test_config(tmp_path / "other", xmpp={"session_hibernation": 7})
    text = render_prosody_config(config, ProsodyPaths.in_state(config.state_directory))
    assert "smacks_hibernation_time = 7\n" in text
