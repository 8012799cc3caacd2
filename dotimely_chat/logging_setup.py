"""Logging for the CLI: one line per event, with the logger name; slixmpp's chatter kept to warnings."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if level != "debug":
        for noisy in ("slixmpp", "aiohttp.access", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
