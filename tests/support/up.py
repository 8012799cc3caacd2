"""`dotimely-chat up` run as a person runs it: the shipped config.toml with a test's ports (Prosody or
ejabberd), the subprocess until its ready line (and its output read on after it), Ctrl-C; the PID of the
server it runs, checked to be up's own child."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from dotimely_chat.config import Config
from dotimely_chat.servers.ejabberd_config import EjabberdPaths
from dotimely_chat.servers.ejabberd_process import EjabberdProcess, _node_pids
from dotimely_chat.servers.prosody_config import ProsodyPaths
from dotimely_chat.servers.prosody_process import ProsodyProcess

from .config import config_document, free_port

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Ctrl-C stops everything."


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # strings and ints are valid TOML in JSON form


def up_document(state_directory: Path, kind: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """config_document for `up` on `kind` ('prosody' or 'ejabberd': then free distribution and admin API
    ports too). An ejabberd state must be reachable by the ejabberd user (support/ejabberd.reachable_temp_dir)."""
    if kind == "ejabberd":
        sections = {**sections, "xmpp": {"server": "ejabberd", **sections.get("xmpp", {})},
                    "ejabberd": {"distribution_port": free_port(), "admin_api_port": free_port(),
                                 **sections.get("ejabberd", {})}}
    return config_document(state_directory, **sections)


def server_of(config: Config) -> ProsodyProcess | EjabberdProcess:
    """The server object `up` makes for `config` (one node): for its paths, clients and log, never started."""
    return EjabberdProcess(config) if config.xmpp.server == "ejabberd" else ProsodyProcess(config)


def server_pid(config: Config, up_pid: int) -> int:
    """The PID of the server `up` (pid `up_pid`) runs, from the server's PID file, checked to be up's child
    (and, on ejabberd, the node of this state's spool): only that process may be killed by a test."""
    if config.xmpp.server == "ejabberd":
        paths = EjabberdPaths.for_config(config)
        pid = int(paths.pidfile.read_text().strip())
        assert pid in _node_pids(paths.spool_dir), f"pid {pid} of {paths.pidfile} is not this state's node"
    else:
        pid = int(ProsodyPaths.in_state(config.state_directory).pidfile.read_text().strip())
    status = Path(f"/proc/{pid}/status").read_text()
    parent = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
    assert parent == up_pid, f"pid {pid} is not a child of up (pid {up_pid}) but of {parent}"
    return pid


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


class WatchedUp(UpProcess):
    """`up` whose output keeps being read after the banner (a full pipe would block its logging)."""

    _reader: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 60) -> str:
        banner = await super().start(timeout)
        self._reader = asyncio.create_task(self._read_rest())
        return banner

    async def _read_rest(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while raw := await self.process.stdout.readline():
            self.output.append(raw.decode())

    async def wait_for_line(self, text: str, timeout: float = 30, after: int = 0) -> int:
        """Wait for a line with `text` among the lines from index `after` on; returns the index after it."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((i for i in range(after, len(self.output)) if text in self.output[i]), None)
            if found is not None:
                return found + 1
            assert time.monotonic() < deadline, f"no line with {text!r} in:\n{''.join(self.output)}"
            await asyncio.sleep(0.1)

    async def exited(self, timeout: float = 30) -> int:
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return code

    async def interrupt(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return await self.exited(timeout)

    async def kill(self) -> None:
        """Kill `up` itself (its server dies with it: parent-death signal) after a failed test."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()


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


def leave_no_server(config: Config) -> None:
    """After `up` is gone: a server of its state that still runs (its parent-death signal not handled yet)
    is stopped, found the product's way (Prosody: its PID file and config path; ejabberd: its spool)."""
    server_of(config).kill_stale()
