"""Fixtures of the browser tests: Debian's Chromium through playwright-core (both installed by ./run.sh test).
Without them the tests are skipped on a workstation and fail under CI (`CI` set): never a silent pass."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from ..support.browser import Browser, missing_tools


def _ours(host: str | None) -> bool:
    """This machine: localhost, or a loopback address (an ejabberd cluster's nodes use 127.0.0.1, 127.0.0.2)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


@pytest.fixture
async def browser(request: pytest.FixtureRequest) -> AsyncIterator[Browser]:
    missing = missing_tools()
    if missing:
        message = "browser tests need " + ", ".join(missing) + " (./run.sh test installs them)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    started = await Browser.start(request.node.name)
    try:
        yield started
        # No request may leave for a host that is not ours (Converse's defaults fetch logos, provider lists...).
        foreign = [r["url"] for r in await started.requests()
                   if urlsplit(r["url"]).scheme in ("http", "https", "ws", "wss")
                   and not _ours(urlsplit(r["url"]).hostname)]
        assert not foreign, f"requests to foreign hosts: {foreign}"
    finally:
        try:
            (started.artifacts / "console.log").write_text("\n".join(await started.console()))
        except Exception:  # noqa: BLE001 - the browser may be gone after a failure
            pass
        await started.close()

