"""The state of the database for /healthz: bounded, and never raising."""

from __future__ import annotations

from dataclasses import dataclass

from ..storage import Database


@dataclass(frozen=True)
class DatabaseHealth:
    state: str  # 'ok', 'busy' (another writer holds the lock, or no connection came free) or 'unavailable'
    kind: str   # 'sqlite' or 'postgresql'


class HealthChecks:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def database_health(self, timeout: float) -> DatabaseHealth:
        """Within about `timeout` seconds, outside the connection pool (see `Database.health`)."""
        return DatabaseHealth(await self.database.health(timeout), self.database.dialect_name)
