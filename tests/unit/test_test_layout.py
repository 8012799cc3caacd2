"""The tests' own layout, kept true: helpers live in tests/support/, fixtures in conftest.py files. No module
of tests/ or bench/ imports a test module (`test_*.py`) or a conftest.py (pytest loads those itself), and no
private (`_name`) helper of the tests is imported across modules. Every import is read with `ast`, those
inside functions too."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("tests", "bench")


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    module: str  # absolute dotted name of the module imported (from)
    names: tuple[str, ...]  # the names of a `from ... import`; empty for `import module`


def dotted_name(file: Path, root: Path) -> str:
    parts = list(file.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(file: Path, root: Path) -> Iterator[Import]:
    """Every import of `file`, relative ones resolved against its package."""
    own = dotted_name(file, root).split(".")
    package = own if file.name == "__init__.py" else own[:-1]
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(file, node.lineno, alias.name, ())
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield Import(file, node.lineno, module, tuple(alias.name for alias in node.names))


def is_test_module(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] == "tests" and parts[-1].startswith("test_")


def is_conftest(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] == "tests" and parts[-1] == "conftest"


def problems(found: Import, root: Path) -> Iterator[str]:
    where = f"{found.file.relative_to(root)}:{found.line}"
    # `from package import name` may import a module: tests.integration + test_x is the module test_x.
    for target in [found.module, *(f"{found.module}.{name}" for name in found.names)]:
        if is_test_module(target):
            yield f"{where} imports the test module {target} (move what it needs to tests/support/)"
        elif is_conftest(target):
            yield f"{where} imports {target} (fixtures are found by pytest; helpers live in tests/support/)"
    if found.module.split(".")[0] == "tests":
        for name in found.names:
            if name.startswith("_") and not name.startswith("__"):
                yield f"{where} imports the private helper {name} from {found.module} (make it public in tests/support/)"


def python_files(root: Path) -> list[Path]:
    return sorted(file for folder in SCANNED for file in (root / folder).rglob("*.py")
                  if "node_modules" not in file.parts)


def layout_problems(root: Path) -> list[str]:
    return [problem for file in python_files(root) for found in imports_of(file, root)
            for problem in problems(found, root)]


def test_no_module_imports_a_test_module_a_conftest_or_a_private_helper() -> None:
    found = layout_problems(ROOT)
    assert not found, "test support belongs in tests/support/:\n" + "\n".join(found)


def test_support_modules_hold_neither_tests_nor_fixtures() -> None:
    """A test in tests/support/ would never run (pytest collects test_*.py only); a fixture there would be
    found by no test: both belong elsewhere."""
    found = []
    for file in sorted((ROOT / "tests" / "support").glob("*.py")):
        if file.name.startswith("test_"):
            found.append(f"{file.name} is named like a test module")
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name.startswith("test_"):
                found.append(f"{file.name}:{node.lineno} defines the test {node.name}")
            if any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list):
                found.append(f"{file.name}:{node.lineno} defines the fixture {node.name} (put it in a conftest.py)")
    assert not found, "\n".join(found)


def make_packages(root: Path) -> None:
    for package in ("tests", "tests/integration", "tests/support", "bench"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")


@pytest.mark.parametrize(("source", "expected"), [
    ("from .test_rooms import book\n", "1 imports the test module tests.integration.test_rooms"),
    ("from . import test_rooms\n", "1 imports the test module tests.integration.test_rooms"),
    ("import tests.browser.test_chatting\n", "1 imports the test module tests.browser.test_chatting"),
    ("def f():\n    from tests.unit.test_tls import pair\n", "2 imports the test module tests.unit.test_tls"),
    ("from ..conftest import ClientFactory\n", "1 imports tests.conftest"),
    ("from ..storage.conftest import empty_db\n", "1 imports tests.storage.conftest"),
    ("from ..support.rooms import _admin_iq\n", "1 imports the private helper _admin_iq from tests.support.rooms"),
])
def test_the_layout_check_names_the_module_and_the_import(tmp_path: Path, source: str, expected: str) -> None:
    make_packages(tmp_path)
    (tmp_path / "tests" / "integration" / "test_status.py").write_text(source)
    [problem] = layout_problems(tmp_path)
    assert problem.startswith(f"tests/integration/test_status.py:{expected}"), problem


def test_the_layout_check_lets_support_and_product_imports_pass(tmp_path: Path) -> None:
    make_packages(tmp_path)
    (tmp_path / "tests" / "integration" / "test_status.py").write_text(
        "from dotimely_chat.component.presence import NS_IDLE\nfrom ..support.rooms import book\n"
        "from ..support import rooms\nfrom .. import support\n")
    (tmp_path / "bench" / "status.py").write_text("from tests.support.config import config_document\n")
    assert layout_problems(tmp_path) == []
