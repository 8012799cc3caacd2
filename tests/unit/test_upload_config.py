"""The [upload] config section: defaults, and refusals that name the key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from dotimely_chat.config import parse_config
from dotimely_chat.errors import ConfigError
from dotimely_chat.services.uploads.service import UploadSettings

MiB = 1024**2


def document(**upload: Any) -> dict[str, Any]:
    return {"xmpp": {"domain": "example.org"}, "component": {"jid": "chat.example.org", "secret": "s" * 24},
            "muc": {"host": "rooms.example.org"}, "api": {"token": "t" * 24}, "upload": upload}


def test_defaults_allow_pictures_videos_and_documents_with_limits(tmp_path: Path) -> None:
    upload = parse_config(document(), tmp_path).upload
    assert {"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic"} <= set(upload.picture_types)
    assert set(upload.video_types) == {"video/mp4", "video/quicktime", "video/webm"}
    assert {"application/pdf", "text/plain", "text/csv",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"} <= set(upload.document_types)
    assert "image/svg+xml" not in upload.picture_types + upload.document_types
    assert (upload.picture_max_size, upload.video_max_size, upload.document_max_size) == (20 * MiB, 100 * MiB, 25 * MiB)
    assert (upload.daily_quota, upload.slot_expires_after) == (1024**3, 300)


def test_settings_follow_the_config(tmp_path: Path) -> None:
    config = parse_config(document(picture_max_size="1 MiB", slot_expires_after=60), tmp_path)
    settings = UploadSettings.from_config(config)
    assert settings.limits.max_size["picture"] == MiB
    assert settings.limits.announced_max_size == 100 * MiB
    assert settings.slot_lifetime == dt.timedelta(seconds=60)
    assert settings.retention == dt.timedelta(days=5 * 365)
    assert settings.public_url == config.http.upload_public_url


@pytest.mark.parametrize(("upload", "key", "hint"), [
    ({"video_max_size": "200 MiB"}, "upload.video_max_size", "max_file_size"),
    ({"max_file_size": "10 MiB"}, "upload.picture_max_size", "max_file_size"),
    ({"picture_types": ["image/png", "application/pdf"]}, "upload.document_types", "picture_types"),
    ({"picture_types": "image/png"}, "upload.picture_types", "MIME"),
    ({"picture_types": ["Image/PNG"]}, "upload.picture_types", "lower-case"),
    ({"document_types": ["pdf"]}, "upload.document_types", "MIME"),
    ({"daily_quota": 0}, "upload.daily_quota", "positive"),
    ({"slot_expires_after": 5}, "upload.slot_expires_after", "seconds"),
    ({"slot_expires_after": "5m"}, "upload.slot_expires_after", "seconds"),
    ({"quota": "1 GiB"}, "upload.quota", "unknown key"),
    ({"cors_origins": "https://a.example"}, "upload.cors_origins", "list of browser origins"),
    ({"cors_origins": ["https://a.example/chat"]}, "upload.cors_origins[0]", "no path"),
    ({"cors_origins": ["https://a.example", "ftp://b.example"]}, "upload.cors_origins[1]", "http or https"),
    ({"cors_origins": ["https://a.example:99999"]}, "upload.cors_origins[0]", "scheme://host[:port]"),
    ({"cors_origins": ["https://user@a.example"]}, "upload.cors_origins[0]", "origins"),
    ({"cors_origins": ["a.example"]}, "upload.cors_origins[0]", "origins"),
    ({"cors_origins": [3]}, "upload.cors_origins[0]", "origins"),
])
def test_bad_upload_values_name_the_key(tmp_path: Path, upload: dict[str, Any], key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(document(**upload), tmp_path)
    assert caught.value.key == key and hint in str(caught.value)


@pytest.mark.parametrize(("value", "expected"), [
    (None, ("http://localhost:8790",)),  # the web page's origin (web.public_url's default)
    ([], ("http://localhost:8790",)),
    (["HTTPS://Chat.Example.com:443/"], ("https://chat.example.com",)),
    (["https://a.example:8443", "http://[::1]:8080", "https://a.example:8443"],
     ("https://a.example:8443", "http://[::1]:8080")),
    (["*"], ("*",)),
])
def test_cors_origins_default_to_the_web_page_and_are_normalised(tmp_path: Path, value: list[str] | None,
                                                                 expected: tuple[str, ...]) -> None:
    config = parse_config(document(**({} if value is None else {"cors_origins": value})), tmp_path)
    assert config.upload.cors_origins == (() if not value else expected)
    assert UploadSettings.from_config(config).cors_origins == frozenset(expected)


def test_the_default_cors_origin_follows_web_public_url(tmp_path: Path) -> None:
    doc = document()
    doc["web"] = {"public_url": "https://chat.example.org/dotimely"}
    settings = UploadSettings.from_config(parse_config(doc, tmp_path))
    assert settings.cors_origins == frozenset({"https://chat.example.org"})
