"""The storage package keeps its shape: stores never commit, every tenant's row goes with its business, and
no module grows past the size where it should be split."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import ForeignKeyConstraint

import dotimely_chat.storage
from dotimely_chat.storage import Base

STORAGE = Path(dotimely_chat.storage.__file__).parent
# The database handle and the migration runner own their transactions; migration scripts are Alembic's.
OWN_TRANSACTIONS = {STORAGE / "database.py", STORAGE / "migrate.py"}
MAX_LINES = 400


def _modules() -> list[Path]:
    """The package's modules but the migration scripts (Alembic's, one per revision)."""
    return sorted(path for path in STORAGE.rglob("*.py") if STORAGE / "migrations" not in path.parents)


def _transaction_calls(source: str) -> list[tuple[int, str]]:
    """(line, name) of every `x.commit()` / `x.rollback()` call in a module's source."""
    return sorted(
        (node.lineno, node.func.attr)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"commit", "rollback"}
    )


def test_repositories_and_stores_never_commit_for_their_caller() -> None:
    calls = {
        str(path.relative_to(STORAGE)): found
        for path in _modules() if path not in OWN_TRANSACTIONS
        if (found := _transaction_calls(path.read_text()))
    }

    assert calls == {}


def test_the_commit_check_sees_a_commit_and_a_rollback() -> None:
    source = "async def save(session):\n    await session.flush()\n    await session.commit()\n    session.rollback()\n"

    assert _transaction_calls(source) == [(3, "commit"), (4, "rollback")]


@pytest.mark.parametrize("table", sorted(name for name, t in Base.metadata.tables.items() if "business_id" in t.c))
def test_every_row_of_a_business_goes_with_the_business(table: str) -> None:
    """Deleting a business deletes everything of it in the database (services/retention.py relies on it)."""
    foreign_keys = [
        constraint for constraint in Base.metadata.tables[table].constraints
        if isinstance(constraint, ForeignKeyConstraint) and constraint.column_keys == ["business_id"]
    ]

    assert [(fk.referred_table.name, [e.column.name for e in fk.elements], fk.ondelete) for fk in foreign_keys] == [
        ("businesses", ["id"], "CASCADE")
    ]


def test_no_storage_module_grows_past_the_split_size() -> None:
    sizes = {str(path.relative_to(STORAGE)): len(path.read_text().splitlines()) for path in _modules()}

    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
