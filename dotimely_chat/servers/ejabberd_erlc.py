"""Compile our ejabberd modules (ejabberd_modules/*.erl) for a node with Debian's `erlc`.

The node loads them from `EjabberdPaths.modules_dir` (`erl -pa`), and ejabberd.yml names them under
`modules`. They are compiled against the installed ejabberd and p1_xmpp (the record layouts of the exact
build), and again whenever the source or the installed ejabberd changes. A failure names the module and
carries erlc's message.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

SOURCES_DIR = Path(__file__).parent / "ejabberd_modules"
ERLC = "/usr/bin/erlc"
OTP_LIB = Path("/usr/lib/erlang/lib")  # Debian's Erlang/OTP applications (p1_xmpp among them)


class ModuleBuildError(RuntimeError):
    pass


def _one(pattern: str, roots: list[Path], what: str) -> Path:
    found = sorted(p for root in roots for p in root.glob(pattern))
    if not found:
        raise ModuleBuildError(f"cannot compile our ejabberd modules: {what} not found under "
                               f"{', '.join(map(str, roots))} (is Debian's ejabberd installed?)")
    return found[-1]


def build_dependencies(erl_libs: str) -> tuple[Path, Path]:
    """The p1_xmpp include dir (xmpp.hrl: stanza records) and ejabberd's ebin (the gen_mod behaviour)."""
    roots = [OTP_LIB, *(Path(p) for p in erl_libs.split(":") if p)]
    xmpp_hrl = _one("*xmpp-*/include/xmpp.hrl", roots, "xmpp.hrl (package erlang-p1-xmpp)")
    gen_mod = _one("ejabberd-*/ebin/gen_mod.beam", roots, "ejabberd's gen_mod.beam")
    return xmpp_hrl.parent, gen_mod.parent


def compile_modules(target: Path, erl_libs: str) -> list[str]:
    """Compile every ejabberd_modules/*.erl into `target` unless already built from the same source against
    the same ejabberd. Returns the module names."""
    include, ebin = build_dependencies(erl_libs)
    target.mkdir(parents=True, exist_ok=True)
    names = []
    for source in sorted(SOURCES_DIR.glob("*.erl")):
        name = source.stem
        names.append(name)
        stamp = target / f"{name}.built-from"
        fingerprint = f"{hashlib.sha256(source.read_bytes()).hexdigest()} {include} {ebin}\n"
        beam = target / f"{name}.beam"
        if beam.exists() and stamp.exists() and stamp.read_text() == fingerprint:
            continue
        beam.unlink(missing_ok=True)
        try:
            result = subprocess.run([ERLC, "-I", str(include), "-pa", str(ebin), "-o", str(target),
                                     str(source)], capture_output=True, text=True, timeout=120, check=False)
        except FileNotFoundError:
            raise ModuleBuildError(f"cannot compile the ejabberd module {name}: {ERLC} not found (it comes "
                                   "with Debian's erlang-base, which ejabberd depends on)") from None
        except subprocess.TimeoutExpired:
            raise ModuleBuildError(f"compiling the ejabberd module {name} ({source}) took over 120 s") from None
        if result.returncode != 0 or not beam.exists():
            message = (result.stdout + result.stderr).strip() or f"exit code {result.returncode}"
            raise ModuleBuildError(f"the ejabberd module {name} ({source}) does not compile:\n{message}")
        if result.stdout.strip() or result.stderr.strip():
            log.warning("erlc about %s: %s", name, (result.stdout + result.stderr).strip())
        stamp.write_text(fingerprint)
        log.info("Compiled the ejabberd module %s into %s", name, target)
    return names
