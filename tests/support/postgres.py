"""The PostgreSQL server of the store tests.

PostgreSQL comes from DOTIMELY_TEST_POSTGRES_URL, default postgresql+asyncpg://127.0.0.1:5432/test. When
it cannot be reached the PostgreSQL half is skipped, unless CI is set: then it fails, so a broken CI
database never passes as green.
"""

from __future__ import annotations

import os

import pytest

from dotimely_chat.storage import Database, describe_url

POSTGRES_URL = os.environ.get("DOTIMELY_TEST_POSTGRES_URL", "postgresql+asyncpg://127.0.0.1:5432/test")


class PostgresServer:
    """The shared PostgreSQL server: checks it once, creates and drops per-test schemas."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._admin = Database(url)
        self._problem: str | None = None
        self._checked = False

    async def require(self) -> None:
        """Skip (or, under CI, fail) the calling test when the server cannot be reached."""
        if not self._checked:
            self._checked = True
            try:
                async with self._admin.engine.connect() as connection:
                    await connection.exec_driver_sql("SELECT 1")
            except Exception as exc:  # noqa: BLE001 - any failure means "not available"
                self._problem = (
                    f"PostgreSQL at {describe_url(self.url)} is not reachable ({type(exc).__name__}: {exc}); "
                    "start it or set DOTIMELY_TEST_POSTGRES_URL"
                )
        if self._problem is None:
            return
        if os.environ.get("CI"):
            pytest.fail(f"{self._problem} [CI is set, so this fails instead of skipping]", pytrace=False)
        pytest.skip(self._problem)

    async def execute(self, sql: str) -> None:
        async with self._admin.engine.begin() as connection:
            await connection.exec_driver_sql(sql)

    async def close(self) -> None:
        await self._admin.dispose()
