"""The layering written in ARCHITECTURE.md holds: every import between our packages is one its table allows.

ARCHITECTURE.md is the one place where the layers are written: its table (package → may import) and the
picture's last line (`base: errors · config · ...`) are parsed here, and every module of `dotimely_chat/` is
read with `ast` — relative imports resolved, `from .. import x` too, imports under `TYPE_CHECKING` and inside
functions included.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "dotimely_chat"
PACKAGE_DIR = ROOT / PACKAGE
ARCHITECTURE = ROOT / "ARCHITECTURE.md"

# The package's root module (`dotimely_chat/__init__.py`: the version) is a base module under this name.
ROOT_UNIT = "__init__"



# --- ARCHITECTURE.md -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One row of the table: the units it covers and what they may import ("*" = anything)."""

    row: str
    units: frozenset[str]
    may_import: frozenset[str]
    stdlib_only: bool

    def allows(self, unit: str) -> bool:
        return unit in self.units or (not self.stdlib_only and ("*" in self.may_import or unit in self.may_import))


@dataclass(frozen=True)
class Layering:
    base: frozenset[str]
    rules: tuple[Rule, ...]

    def rule_of(self, unit: str) -> Rule | None:
        return next((rule for rule in self.rules if unit in rule.units), None)


def _backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _base_modules(text: str) -> frozenset[str]:
    """The picture's last line: `base: errors · config · ...   (leaf modules, used by all)`."""
    match = re.search(r"^\s*base:\s*(.+?)(?:\s{2,}\(.*)?$", text, re.MULTILINE)
    assert match, "ARCHITECTURE.md: no `base: a · b · ...` line in the picture"
    return frozenset(name.strip() for name in match.group(1).split("·") if name.strip())


def _table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] == "package" or set("".join(cells)) <= set("-: "):
            continue
        rows.append(cells)
    assert rows, "ARCHITECTURE.md: no table of packages"
    return rows


def parse_architecture(text: str) -> Layering:
    base = _base_modules(text)
    rules = []
    for cells in _table_rows(text):
        assert len(cells) == 3, f"ARCHITECTURE.md: a table row without three cells: {cells}"
        package, _owns, allowed = cells
        units = frozenset(base if package == "base modules" else _backticked(package))
        assert units, f"ARCHITECTURE.md: a row that names no package: {package!r}"
        stdlib_only = "stdlib only" in allowed
        may_import: set[str] = set()
        if not stdlib_only:
            may_import.update(_backticked(allowed))
            if re.search(r"\bbase\b|\beach other\b", allowed):
                may_import.update(base)
            if re.search(r"\banything\b", allowed):
                may_import.add("*")
        rules.append(Rule(package, units, frozenset(may_import), stdlib_only))
    return Layering(base, tuple(rules))


# --- the code --------------------------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _exists(module: str) -> bool:
    """Whether `module` (without the prefix) is a module or package of ours (not an attribute)."""
    base = PACKAGE_DIR.joinpath(*module.split(".")) if module else PACKAGE_DIR
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _strip_prefix(absolute: str) -> str | None:
    if absolute == PACKAGE:
        return ""
    if absolute.startswith(PACKAGE + "."):
        return absolute[len(PACKAGE) + 1:]
    return None


def _imports_of(path: Path) -> list[tuple[str | None, str, int]]:
    """(our module imported or None, the top-level name as written, line) for each name imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    module = _module_name(path)
    # The package a relative import starts from.
    here = module.split(".") if module else []
    if not _is_package(path):
        here = here[:-1]
    found: list[tuple[str | None, str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((_strip_prefix(alias.name), alias.name.split(".")[0], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert node.level - 1 <= len(here), f"{path}:{node.lineno}: relative import beyond the package"
                start = here[: len(here) - (node.level - 1)]
                source = ".".join([*start, *([node.module] if node.module else [])])
                top = PACKAGE
            else:
                top = (node.module or "").split(".")[0]
                stripped = _strip_prefix(node.module or "")
                if stripped is None:
                    found.append((None, top, node.lineno))
                    continue
                source = stripped
            for alias in node.names:
                # `from . import views`, `from .. import config`: a module; `from .. import __version__`: not.
                candidate = f"{source}.{alias.name}" if source else alias.name
                found.append((candidate if _exists(candidate) else source, top, node.lineno))
    return sorted(found, key=lambda item: item[2])


def our_modules() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def unit_of(module: str) -> str:
    """The row a module belongs to: its first component (`api.context` → `api`); the root is `__init__`."""
    return module.split(".")[0] if module else ROOT_UNIT


@dataclass(frozen=True)
class Finding:
    key: str  # "importer -> imported" (module names without `dotimely_chat.`)
    message: str


def find_violations(layering: Layering) -> list[Finding]:
    findings: list[Finding] = []
    stdlib = sys.stdlib_module_names
    for path in our_modules():
        importer = _module_name(path) or ROOT_UNIT
        where = f"{path.relative_to(ROOT)}"
        rule = layering.rule_of(unit_of(_module_name(path)))
        if rule is None:
            findings.append(Finding(
                f"{importer} -> ?",
                f"{where}: module {PACKAGE}.{importer} belongs to no row of ARCHITECTURE.md's table "
                f"(add its package there)",
            ))
            continue
        for imported, top, line in _imports_of(path):
            if imported is None:
                if rule.stdlib_only and top not in stdlib and top != "__future__":
                    findings.append(Finding(
                        f"{importer} -> {top}",
                        f"{where}:{line}: {PACKAGE}.{importer} imports {top}, but the row "
                        f"{rule.row} of ARCHITECTURE.md allows the stdlib only",
                    ))
                continue
            target = unit_of(imported)
            if target in rule.units:
                continue
            if rule.stdlib_only or not rule.allows(target):
                allowed = "the stdlib only" if rule.stdlib_only else ", ".join(sorted(rule.may_import))
                key = f"{importer} -> {imported or ROOT_UNIT}"
                if any(finding.key == key for finding in findings):
                    continue  # `from ..storage import a, b`: one finding
                findings.append(Finding(
                    key,
                    f"{where}:{line}: {PACKAGE}.{importer} imports {PACKAGE}.{imported or ROOT_UNIT} "
                    f"({target}), but the row {rule.row} of ARCHITECTURE.md allows: {allowed}",
                ))
    return findings


# --- the tests -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def layering() -> Layering:
    return parse_architecture(ARCHITECTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def findings(layering: Layering) -> list[Finding]:
    return find_violations(layering)


def test_every_import_between_our_packages_is_allowed_by_architecture_md(findings: list[Finding]) -> None:
    assert not findings, "imports ARCHITECTURE.md does not allow:\n" + "\n".join(f.message for f in findings)


def test_policies_import_nothing_but_the_stdlib(layering: Layering) -> None:
    rule = layering.rule_of("policies")
    assert rule is not None and rule.stdlib_only, "ARCHITECTURE.md: policies must be `the stdlib only`"


def test_every_row_of_the_table_names_a_package_of_ours_or_one_to_come(layering: Layering) -> None:
    units = {unit for rule in layering.rules for unit in rule.units}
    present = {unit_of(_module_name(path)) for path in our_modules()}
    # `http_common` is the package issue 18 creates.
    missing = units - present - {"http_common"}
    assert not missing, f"ARCHITECTURE.md names packages that do not exist: {sorted(missing)}"


# --- the checker checks ----------------------------------------------------------------------------------

SAMPLE = """
```
   base: errors · config   (leaf modules, used by all)
```
| package | owns | may import (besides the stdlib and third-party libraries) |
|---|---|---|
| `policies` | rules | the stdlib only (no slixmpp) |
| base modules | errors | each other |
| `storage` | tables | `policies`, base |
| `api` | JSON | `storage`, base |
| `app`, `cli` | composition | anything |
"""


def test_the_table_is_read_with_base_modules_and_anything() -> None:
    layering = parse_architecture(SAMPLE)
    assert layering.base == {"errors", "config"}
    storage = layering.rule_of("storage")
    assert storage is not None and storage.may_import == {"policies", "errors", "config"}
    assert storage.allows("storage") and storage.allows("errors") and not storage.allows("api")
    policies = layering.rule_of("policies")
    assert policies is not None and policies.stdlib_only and not policies.allows("errors")
    cli = layering.rule_of("cli")
    assert cli is not None and cli.allows("api")
    config = layering.rule_of("config")
    assert config is not None and config.allows("errors") and not config.allows("storage")


def test_relative_imports_resolve_to_modules_or_their_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / PACKAGE
    (package / "api").mkdir(parents=True)
    (package / "storage").mkdir()
    for name in ("__init__.py", "config.py", "api/__init__.py", "api/views.py", "storage/__init__.py"):
        (package / name).write_text("")
    (package / "api" / "context.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import views\n"
        "from .. import __version__, config\n"
        "from ..storage import Repository\n"
        "import dotimely_chat.storage\n"
        "if TYPE_CHECKING:\n"
        "    from dotimely_chat.api.views import View\n"
        "def later():\n"
        "    import aiohttp\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_DIR", package)
    found = [(imported, top) for imported, top, _ in _imports_of(package / "api" / "context.py")]
    assert found == [
        (None, "typing"),
        ("api.views", PACKAGE),
        ("", PACKAGE),
        ("config", PACKAGE),
        ("storage", PACKAGE),
        ("storage", PACKAGE),
        ("api.views", PACKAGE),
        (None, "aiohttp"),
    ]
