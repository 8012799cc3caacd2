"""`dotimely-chat up` run as a person runs it: the shipped config.toml with a test's ports, the subprocess
until its ready line, Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Ctrl-C stops everything."


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # strings and ints are valid TOML in JSON form


def write_config(path: Path, doc: dict) -> None:
    """The shipped config.toml with the test's ports and paths (example secrets kept: `up` replaces them)."""
    shipped = tomllib.loads((ROOT / "config.toml").read_text())
    for section, values in doc.items():
        if isinstance(values, dict):
            if section in ("component", "api"):
                values = {k: v for k, v in values.items() if k not in ("secret", "token")}
            shipped.setdefault(section, {}).update(values)
        else:
            shipped[section] = values
    lines = [f"{k} = {toml_value(v)}" for k, v in shipped.items() if not isinstance(v, dict)]
    for section, values in shipped.items():
        if isinstance(values, dict):
            lines += [f"[{section}]"] + [f"{k} = {toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")


class UpProcess:
    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []

    async def start(self, timeout: float = 60) -> str:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dotimely_chat", "--config", str(self.config_path), "up",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.process.stdout is not None

        async def read_until_ready() -> str:
            while True:
                raw = await self.process.stdout.readline()  # type: ignore[union-attr]
                if not raw:
                    raise AssertionError("up exited early:\n" + "".join(self.output))
                self.output.append(raw.decode())
                if READY_LINE in self.output[-1]:
                    return "".join(self.output)

        return await asyncio.wait_for(read_until_ready(), timeout)

    async def interrupt(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(self.process.communicate(), timeout)
        self.output.append(rest.decode())
        return self.process.returncode  # type: ignore[return-value]


def owner_credentials(banner: str) -> tuple[str, str]:
    match = re.search(r"owner\s+(\S+@\S+)\s+password (\S+)", banner)
    assert match, banner
    return match.group(1), match.group(2)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
