"""config.toml -> frozen dataclasses.

`schema.py` is the one schema (every key's section, validator and default, and the dataclasses), `values.py`
the validators of single values, `loading.py` reading the file and the rules between keys. This module is
the package's public surface: import from `dotimely_chat.config`.
"""

from .loading import load_config, parse_config
from .schema import (
    EXAMPLE_API_TOKEN,
    EXAMPLE_COMPONENT_SECRET,
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
from .values import Listen, origin_of, retention_seconds

__all__ = [
    "EXAMPLE_API_TOKEN",
    "EXAMPLE_COMPONENT_SECRET",
    "REQUIRED",
    "SCHEMA",
    "ApiConfig",
    "ArchiveConfig",
    "ComponentConfig",
    "Config",
    "DatabaseConfig",
    "DemoConfig",
    "EjabberdConfig",
    "HttpConfig",
    "Listen",
    "MucConfig",
    "UploadConfig",
    "WebConfig",
    "XmppConfig",
    "load_config",
    "origin_of",
    "parse_config",
    "retention_seconds",
]
