"""Run a local ejabberd node as a child process: write its files, start it, wait until it serves, stop it.

Used by `dotimely-chat up` (xmpp.server = "ejabberd") and by the test fixtures, from the same renderer the
operator runs. The node runs as Debian's `ejabberd` user when we are root (as `ejabberdctl` would) and that
user can reach the state directory, with its own config dir, spool and logs under <state>/ejabberd and an
Erlang cookie of ours in its own HOME.

Traps (ejabberd 23.01 on Debian 12):
- `ejabberdctl foreground` keeps a shell between us and the Erlang VM, so a parent-death signal would reach
  the shell and leave the node running. We start `erl` the way ejabberdctl does (same options and
  environment) so the VM itself is our child and dies with us.
- With ERL_DIST_PORT (`-erl_epmd_port`, `-start_epmd false`) no epmd is started or asked: another program's
  epmd (RabbitMQ's here) is never touched.
- Root's `ejabberdctl` switches to the ejabberd user with `su`, which resets HOME and so the cookie; our ctl
  calls (`EjabberdProcess.ctl`) run ejabberd_ctl the same way as the node's user, with our HOME.
- The ejabberd user cannot enter a state directory under /root (0700): the node then runs as root, as
  Prosody does under `up`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import pwd
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from ..config import Config
from .child_process import busy_ports, die_with_parent, own_process_group, stop_child, tail, terminate_pid, wait_listening
from .ejabberd_accounts import admin_api_url
from .ejabberd_config import EjabberdPaths, render_ejabberd_config, render_ejabberdctl_config
from .ejabberd_erlc import ModuleBuildError, compile_modules
from .tls import ensure_server_certificate

log = logging.getLogger(__name__)

EJABBERDCTL = "/usr/sbin/ejabberdctl"
ERL = "/usr/bin/erl"
RUN_AS = "ejabberd"


class EjabberdError(RuntimeError):
    pass


@dataclass(frozen=True)
class RunAs:
    """The user the node and our ctl calls run as (None: the current user)."""

    uid: int
    gid: int
    name: str

    @classmethod
    def for_node(cls) -> RunAs | None:
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam(RUN_AS)
        except KeyError:
            return None
        return cls(entry.pw_uid, entry.pw_gid, entry.pw_name)


def _child_setup(run_as: RunAs | None) -> None:  # runs in the child between fork and exec
    own_process_group()
    if run_as is not None:
        os.setgroups([])
        os.setgid(run_as.gid)
        os.setuid(run_as.uid)
    die_with_parent()  # after setuid: a change of credentials clears the parent-death signal


def erl_libs() -> str:
    """Where Debian keeps ejabberd's Erlang applications, as ejabberdctl says (ERL_LIBS='...')."""
    try:
        match = re.search(r"^ERL_LIBS='([^']*)'", Path(EJABBERDCTL).read_text(), re.MULTILINE)
    except OSError:
        match = None
    return match.group(1) if match else "/usr/lib/x86_64-linux-gnu"


def ensure_cookie(paths: EjabberdPaths) -> None:
    """An Erlang cookie of our own (256 bits), made once per state directory."""
    if paths.cookie_file.exists():
        return
    paths.home_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.cookie_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32).upper())


def prepare_ejabberd_files(config: Config, paths: EjabberdPaths, run_as: RunAs | None) -> RunAs | None:
    """Write the config, the cookie and the certificate file, compile our modules; hand the tree to the node's
    user.

    Returns the user the node runs as: None (ourselves) when the ejabberd user cannot reach the state
    directory, e.g. a checkout under /root (0700), as `./run.sh up` on a fresh Debian is run. Prosody runs
    as root under `up` too.
    """
    for folder in (paths.config_dir, paths.spool_dir, paths.logs_dir, paths.home_dir, paths.certificate.parent):
        folder.mkdir(parents=True, exist_ok=True)
    shared = ensure_server_certificate(config)  # the state's one server certificate (the upload host's too)
    _write(paths.certificate, shared.certificate.read_bytes() + shared.private_key.read_bytes(), 0o400)
    _write(paths.config_file, render_ejabberd_config(config, paths).encode(), 0o400)  # holds the secret
    _write(paths.ctl_config_file, render_ejabberdctl_config(config, paths).encode(), 0o444)
    _write(paths.inetrc, b"", 0o444)
    ensure_cookie(paths)
    try:
        compile_modules(paths.modules_dir, erl_libs())
    except ModuleBuildError as exc:
        raise EjabberdError(str(exc)) from None
    os.chmod(paths.root, 0o700)
    if run_as is not None:
        for directory, _dirs, files in os.walk(paths.root):
            os.chown(directory, run_as.uid, run_as.gid)
            for name in files:
                os.chown(os.path.join(directory, name), run_as.uid, run_as.gid)
        blocked = _unreachable_by(paths, run_as)
        if blocked is not None:
            log.warning("The ejabberd user %r cannot reach %s (%s is not searchable by others): the node runs "
                        "as root, like Prosody under `up` (chmod o+x %s to run it as %r)", run_as.name,
                        paths.root, blocked, blocked, run_as.name)
            return None
    return run_as


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _unreachable_by(paths: EjabberdPaths, run_as: RunAs) -> Path | None:
    """The first folder on the way to the spool that `run_as` cannot pass (None: it can write there)."""
    result = subprocess.run(["test", "-w", str(paths.spool_dir)], user=run_as.uid, group=run_as.gid,
                            extra_groups=[], capture_output=True, check=False)
    if result.returncode == 0:
        return None
    return next((p for p in reversed(paths.root.parents) if not p.stat().st_mode & 0o001), paths.root)


def _node_pids(spool_dir: Path) -> list[int]:
    """beam.smp processes running a node on this spool directory (ours, whoever started them)."""
    marker = f'"{spool_dir}"'.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"beam.smp") and marker in cmdline:
            found.append(int(entry.name))
    return found


class EjabberdProcess:
    """One ejabberd node, our child, for one state directory."""

    def __init__(self, config: Config, paths: EjabberdPaths | None = None) -> None:
        self.config = config
        self.paths = paths or EjabberdPaths.for_config(config)
        self.process: asyncio.subprocess.Process | None = None
        self.run_as = RunAs.for_node()

    @property
    def api_url(self) -> str:
        return admin_api_url(self.config)

    @property
    def ports(self) -> list[tuple[str, int]]:
        x, e = self.config.xmpp, self.config.ejabberd
        host = x.client_interfaces[0]
        return [(host, x.client_port), (host, x.http_port), (e.local_address, self.config.component.port),
                (e.local_address, e.admin_api_port), (e.distribution_interface, e.distribution_port)]

    def kill_stale(self) -> None:
        """A node left on this spool by an earlier run (e.g. after kill -9 of its parent) is stopped."""
        for pid in _node_pids(self.paths.spool_dir):
            log.warning("Stopping an ejabberd node (pid %d) left behind by an earlier run", pid)
            terminate_pid(pid)

    def _environment(self) -> dict[str, str]:
        p = self.paths
        env = {key: value for key, value in os.environ.items() if not key.startswith(("ERL_", "EJABBERD_"))}
        env.update({
            "HOME": str(p.home_dir),
            "EJABBERD_CONFIG_PATH": str(p.config_file),
            "EJABBERD_LOG_PATH": str(p.log_file),
            "EJABBERD_PID_PATH": str(p.pidfile),
            "ERL_CRASH_DUMP": str(p.logs_dir / "erl_crash.dump"),
            "ERL_INETRC": str(p.inetrc),
            "ERL_DIST_PORT": str(self.config.ejabberd.distribution_port),
            "ERL_MAX_PORTS": "32000",
            "ERL_MAX_ETS_TABLES": "1400",
            "ERL_LIBS": erl_libs(),
            "CONTRIB_MODULES_PATH": str(p.home_dir / ".ejabberd-modules"),
        })
        return env

    def _distribution_options(self) -> list[str]:
        """Erlang distribution on one interface and port, no epmd (what ejabberdctl makes of its cfg)."""
        e = self.config.ejabberd
        address = ipaddress.ip_address(e.distribution_interface)
        groups = address.exploded.split(".") if address.version == 4 else \
            [str(int(group, 16)) for group in address.exploded.split(":")]
        interface = "{" + ",".join(str(int(g)) for g in groups) + "}"  # an Erlang tuple
        return ["+K", "true", "-kernel", "inet_dist_use_interface", interface,
                "-erl_epmd_port", str(e.distribution_port), "-start_epmd", "false"]

    def _erl_command(self) -> list[str]:
        """What `ejabberdctl foreground` runs (ejabberd 23.01's script), with our ejabberdctl.cfg values."""
        return [ERL, "-name", self.config.ejabberd.node, *self._distribution_options(), "+P", "250000",
                "-pa", str(self.paths.modules_dir),
                "-env", "ERL_CRASH_DUMP_BYTES", "0",
                "-mnesia", "dir", f'"{self.paths.spool_dir}"', "-s", "ejabberd", "-noinput"]

    async def start(self, timeout: float = 60.0) -> None:
        if not Path(ERL).exists() or not Path(EJABBERDCTL).exists():
            raise EjabberdError(f"ejabberd is missing ({EJABBERDCTL} or {ERL} not found): install Debian's "
                                "ejabberd package (./run.sh does it)")
        self.kill_stale()
        busy = await busy_ports(self.ports)
        if busy:
            raise EjabberdError(f"port(s) {', '.join(busy)} already in use: another server runs there; stop it or "
                                "change xmpp.client_port, xmpp.http_port, component.port, "
                                "ejabberd.admin_api_port or ejabberd.distribution_port")
        self.run_as = prepare_ejabberd_files(self.config, self.paths, RunAs.for_node())
        console = self._fresh_console_log()
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self._erl_command(), cwd=self.paths.spool_dir, env=self._environment(),
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                preexec_fn=lambda: _child_setup(self.run_as),
            )
        finally:
            os.close(console)
        try:
            await self._wait_ready(timeout)
        except BaseException:
            await self.stop()
            raise
        log.info("ejabberd node %s (pid %d) listens on %s", self.config.ejabberd.node, self.process.pid,
                 ", ".join(f"{h}:{p}" for h, p in self.ports))

    def _fresh_console_log(self) -> int:
        """The node's stdout/stderr, a new file per start (the tail shown on failure is this start's)."""
        for stale in (self.paths.log_file, self.paths.error_log_file, self.paths.console_log_file):
            stale.unlink(missing_ok=True)
        fd = os.open(self.paths.console_log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        if self.run_as is not None:
            os.fchown(fd, self.run_as.uid, self.run_as.gid)
        return fd

    async def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None

        def exited(code: int) -> EjabberdError:
            reason = self.failure_reason() or f"exit code {code}"
            return EjabberdError(f"ejabberd failed to start ({reason}); config {self.paths.config_file}:\n"
                                 f"{self.log_tail()}")

        await wait_listening(self.process, self.ports, timeout, exited=exited, poll=0.1,
                             late=lambda pending: EjabberdError(
                                 f"ejabberd did not listen on {pending} within {timeout:.0f} s:\n{self.log_tail()}"))
        await self.check_admin_api()

    async def check_admin_api(self) -> None:
        """The admin API answers `status` to us (api_permissions match loopback callers)."""
        try:
            async with aiohttp.ClientSession() as http, \
                    http.post(f"{self.api_url}/status", json={}, timeout=aiohttp.ClientTimeout(total=10)) as reply:
                text = await reply.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise EjabberdError(f"ejabberd's admin API at {self.api_url} did not answer: {exc!r}") from None
        if reply.status != 200:
            raise EjabberdError(f"ejabberd's admin API at {self.api_url} refused `status` ({reply.status} "
                                f"{text[:300]}): check api_permissions in {self.paths.config_file}")

    async def stop(self, timeout: float = 20.0) -> None:
        process, self.process = self.process, None
        await stop_child(process, timeout, "ejabberd")  # on SIGTERM the VM runs init:stop(): mnesia closes cleanly
        for pid in _node_pids(self.paths.spool_dir):  # never leave a node behind
            log.warning("ejabberd node process %d still runs after stop; killing it", pid)
            terminate_pid(pid)

    def log_tail(self, lines: int = 60) -> str:
        """The end of the node's log (its console output when the log itself is empty: a boot failure)."""
        for path in (self.paths.log_file, self.paths.console_log_file):
            text = tail(path, lines)
            if text and text.strip():
                return f"--- {path}\n{text}"
        return "(no log)"

    def failure_reason(self) -> str:
        """The last critical or error line of the log, without its time stamp ('' if none)."""
        found = ""
        for line in self.log_tail(200).splitlines():
            if "[critical]" in line or "[error]" in line:
                found = re.sub(r"^\S+ \S+ \[\w+\] (<[^>]*>@\S+ )?", "", line).strip()
        return found

    def ctl(self, *arguments: str, timeout: float = 60.0) -> str:
        """Run the ejabberdctl command ARGUMENTS against this node. Returns its output.

        Like ejabberdctl (a hidden Erlang node running ejabberd_ctl), but as the node's own user with our
        HOME, hence our cookie: root's ejabberdctl would `su` to the ejabberd user and take that user's.
        """
        node = self.config.ejabberd.node
        command = [ERL, "-name", f"ctl-{secrets.token_hex(3)}-{node}", *self._distribution_options(),
                   "-dist_listen", "false", "-hidden", "-noinput", "-s", "ejabberd_ctl", "-extra", node,
                   *arguments]
        run_as = self.run_as
        p = self.paths
        try:
            result = subprocess.run(command, env=self._environment(), capture_output=True, text=True,
                                    timeout=timeout, cwd=p.spool_dir, check=False,
                                    user=run_as.uid if run_as else None, group=run_as.gid if run_as else None,
                                    extra_groups=[] if run_as else None)
        except subprocess.TimeoutExpired:
            raise EjabberdError(f"ejabberdctl {' '.join(arguments)} gave no answer within {timeout:.0f} s") from None
        output = result.stdout + result.stderr
        if "nodedown" in output or "Failed RPC connection" in output:
            if self.process is not None and self.process.returncode is None:
                raise EjabberdError(f"ejabberdctl could not reach the running node {node} over Erlang "
                                    f"distribution (port {self.config.ejabberd.distribution_port}): the node "
                                    f"refused our Erlang cookie ({p.cookie_file} differs from the node's)")
            raise EjabberdError(f"ejabberdctl could not reach the node {node}: it is not running")
        if result.returncode != 0:
            raise EjabberdError(f"ejabberdctl {' '.join(arguments)} failed ({result.returncode}): {output.strip()}")
        return result.stdout
