"""Alembic migrations; run them through `dotimely_chat.storage.migrate`, not the alembic CLI."""
