"""Where the upload writer runs a batch: one synchronous function per transaction, on a connection of its
own, so that a batch costs one hop instead of several per statement.

SQLite (a file): a pysqlite connection in one dedicated thread, with the same pragmas as the async engine
(WAL, foreign keys, busy timeout). Measured: the writer's two transactions per file cost 2.3 ms of CPU
through aiosqlite, 0.9 ms this way. PostgreSQL (or an in-memory SQLite, which only the async engine's
connections can see): the async engine's connection, the function run through `run_sync`.

After a failure the connection is closed and the next batch opens a new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from ...storage import Database
from ...storage.database import set_sqlite_pragmas, sqlite_file

T = TypeVar("T")


class BatchConnection:
    def __init__(self, database: Database) -> None:
        self.database = database
        url = database.engine.url
        self._threaded = url.get_backend_name() == "sqlite" and sqlite_file(url) is not None
        self._engine: Engine | None = None
        self._sync: Connection | None = None
        self._async: AsyncConnection | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)` — it begins, and commits or rolls back, its own transaction."""
        try:
            if self._threaded:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="upload-writer")
                return await asyncio.get_running_loop().run_in_executor(self._executor, self._in_thread, work)
            if self._async is None:
                self._async = await self.database.engine.connect()
            return await self._async.run_sync(work)
        except BaseException:
            await self.reset()
            raise

    def _in_thread(self, work: Callable[[Connection], T]) -> T:
        if self._sync is None:
            if self._engine is None:
                url = self.database.engine.url.set(drivername="sqlite+pysqlite")
                self._engine = create_engine(url)
                event.listen(self._engine, "connect", set_sqlite_pragmas)
            self._sync = self._engine.connect()
        return work(self._sync)

    async def reset(self) -> None:
        """Close the connection (a broken one is not reused)."""
        if self._executor is not None:
            await asyncio.shield(asyncio.get_running_loop().run_in_executor(self._executor, self._close_sync))
        connection, self._async = self._async, None
        if connection is not None:
            try:
                await asyncio.shield(connection.close())
            except Exception:  # noqa: BLE001 - a broken connection may fail to close; drop it
                await connection.invalidate()

    def _close_sync(self) -> None:
        connection, self._sync = self._sync, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001
                connection.invalidate()

    async def close(self) -> None:
        await self.reset()
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, self._dispose_engine)
            executor.shutdown(wait=False)

    def _dispose_engine(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()
