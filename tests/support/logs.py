"""What a test that promises "nothing in the error log" looks at."""

from __future__ import annotations

import logging

import pytest


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """(logger, message) of every ERROR or worse, or anything logged with a traceback, during the test. Left out:
    asyncio's "Task was destroyed but it is pending!", which the garbage collector reports whenever it frees the
    slixmpp streams that earlier tests closed (their filter tasks): not this test's doing."""
    return [(r.name, r.getMessage()) for r in caplog.records
            if (r.levelno >= logging.ERROR or r.exc_info)
            and not (r.name == "asyncio" and r.getMessage().startswith("Task was destroyed but it is pending"))]
