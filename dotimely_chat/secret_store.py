"""Secrets kept in the state directory, in place of the example values shipped in config.toml."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
from pathlib import Path

from .config import Config
from .errors import ConfigError

log = logging.getLogger(__name__)


def secrets_file(config: Config) -> Path:
    return config.state_directory / "secrets.json"


def resolve_secrets(config: Config, *, generate: bool) -> Config:
    """Replace shipped example secrets by those kept in <state>/secrets.json.

    With `generate`, missing ones are made (256 random bits) and written with mode 0600 first.
    """
    path = secrets_file(config)
    try:
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError) as exc:
        raise ConfigError("state_directory", str(path), f"a readable secrets.json ({exc})") from None
    needed = config.uses_example_secrets()
    missing = [key for key in needed if key not in stored]
    if missing and generate:
        for key in missing:
            stored[key] = secrets.token_urlsafe(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=2)
        os.replace(tmp, path)
        log.info("Generated %s into %s", ", ".join(missing), path)
    component, api = config.component, config.api
    if "component.secret" in needed and "component.secret" in stored:
        component = dataclasses.replace(component, secret=stored["component.secret"])
    if "api.token" in needed and "api.token" in stored:
        api = dataclasses.replace(api, token=stored["api.token"])
    return dataclasses.replace(config, component=component, api=api)


def refuse_example_secrets(config: Config) -> None:
    """Outside demo mode, a secret that is still the shipped example stops start-up."""
    if config.demo.enabled:
        return
    for key in config.uses_example_secrets():
        raise ConfigError(key, "<the example value shipped in config.toml>",
                          "a secret of your own, at least 16 characters (the shipped example is only "
                          "accepted with demo.enabled = true; `dotimely-chat up` generates one)")
