"""Python side of the browser bridge (driver.mjs): Debian's Chromium driven by playwright-core, one JSON line
per command. Screenshots go to tests/browser/artifacts/<test>/ and are kept (CI artifacts)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

BROWSER_DIR = Path(__file__).resolve().parents[1] / "browser"  # driver.mjs, node_modules/, artifacts/
ARTIFACTS = BROWSER_DIR / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def missing_tools() -> list[str]:
    """What ./run.sh test installs for these tests and is not there."""
    missing = []
    if shutil.which("node") is None:
        missing.append("node (Debian package nodejs)")
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium at {CHROMIUM} (Debian package chromium)")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        missing.append("playwright-core (npm ci in tests/browser)")
    return missing


class BrowserError(AssertionError):
    pass


class Browser:
    def __init__(self, process: asyncio.subprocess.Process, artifacts: Path) -> None:
        self.process, self.artifacts = process, artifacts
        self._ids = itertools.count(1)
        self._step = itertools.count(1)

    @classmethod
    async def start(cls, test_name: str) -> Browser:
        artifacts = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        shutil.rmtree(artifacts, ignore_errors=True)
        artifacts.mkdir(parents=True)
        process = await asyncio.create_subprocess_exec(
            "node", str(BROWSER_DIR / "driver.mjs"), cwd=BROWSER_DIR, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env={**os.environ, "CHROMIUM": CHROMIUM}, limit=64 * 1024 * 1024)
        assert process.stdout is not None
        ready = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
        assert ready.get("ready"), ready
        return cls(process, artifacts)

    async def call(self, op: str, *, wait: float = 60, **arguments: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        command = {"id": next(self._ids), "op": op, **arguments}
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        answer = json.loads(await asyncio.wait_for(self.process.stdout.readline(), wait))
        if not answer["ok"]:
            await self.screenshot(f"failed-{op}", page=arguments.get("page", "main"))
            raise BrowserError(f"{op} {arguments}: {answer['error']}")
        return answer["result"]

    async def screenshot(self, name: str, page: str = "main") -> Path:
        path = self.artifacts / f"{next(self._step):02d}-{name}.png"
        command = {"id": next(self._ids), "op": "screenshot", "page": page, "path": str(path)}
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        await asyncio.wait_for(self.process.stdout.readline(), 60)
        return path

    async def goto(self, url: str, page: str = "main") -> int | None:
        return await self.call("goto", page=page, url=url)  # type: ignore[no-any-return]

    async def wait_for(self, selector: str, page: str = "main", timeout: float = 15, state: str = "visible") -> None:
        await self.call("waitFor", page=page, selector=selector, state=state, timeout=int(timeout * 1000),
                        wait=timeout + 30)

    async def click(self, selector: str, page: str = "main") -> None:
        await self.call("click", page=page, selector=selector)

    async def texts(self, selector: str, page: str = "main") -> list[str]:
        return await self.call("texts", page=page, selector=selector)  # type: ignore[no-any-return]

    async def count(self, selector: str, page: str = "main") -> int:
        return await self.call("count", page=page, selector=selector)  # type: ignore[no-any-return]

    async def attribute(self, selector: str, attribute: str, page: str = "main") -> str | None:
        return await self.call("attribute", page=page, selector=selector, attribute=attribute)  # type: ignore[no-any-return]

    async def evaluate(self, expression: str, page: str = "main") -> Any:
        return await self.call("evaluate", page=page, expression=expression)

    async def requests(self) -> list[dict[str, str]]:
        return await self.call("requests")  # type: ignore[no-any-return]

    async def console(self) -> list[str]:
        return await self.call("console")  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
