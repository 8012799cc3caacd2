"""Alembic environment: runs on a connection handed in by `dotimely_chat.storage.migrate`.

The caller opens the connection (and its transaction) inside the running event loop and calls Alembic
through `AsyncConnection.run_sync`, so there is no engine, no URL and no `asyncio.run` here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from dotimely_chat.storage.models.base import Base

config = context.config
target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    """Configure Alembic on the given connection and run the requested command."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table instead
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; use dotimely_chat.storage.migrate")

_connection: Connection | None = config.attributes.get("connection")
if _connection is None:
    raise RuntimeError(
        "no connection in config.attributes['connection']: run migrations through "
        "dotimely_chat.storage.migrate (the `dotimely-chat db upgrade` command), not the alembic CLI"
    )
run_migrations(_connection)
