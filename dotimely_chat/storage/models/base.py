"""What every table shares: the declarative base, the constraint naming convention, the column aliases.

Ids are our own integers; `external_id` is the booking backend's id for the same thing. Migrations in
`migrations/versions` must match the models exactly (tests/storage/test_storage_migrations.py compares them).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Final

from sqlalchemy import ForeignKey, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, mapped_column

from dotimely_chat.storage.types import UTCDateTime, utcnow

NAMING_CONVENTION: Final[dict[str, str]] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def sql_in(column: str, values: tuple[str, ...]) -> str:
    """SQL text for `column IN (...)` over fixed literals (never user input), for CHECK constraints."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


intpk = Annotated[int, mapped_column(primary_key=True)]
created_now = Annotated[dt.datetime, mapped_column(UTCDateTime(), default=utcnow, server_default=func.now())]
str128 = Annotated[str, mapped_column(String(128))]
str200 = Annotated[str, mapped_column(String(200))]

# The tenant of a row: deleting the business deletes the row (the database cascades; see Business).
business_fk = Annotated[int, mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))]
# A row that is the person's own: it goes with the person.
person_fk = Annotated[int, mapped_column(ForeignKey("people.id", ondelete="CASCADE"))]


class Base(DeclarativeBase):
    """Declarative base; constraint names follow `NAMING_CONVENTION` so migrations can name them."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime()}
