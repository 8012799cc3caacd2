"""The database schema, one module per aggregate (one model per table, each in one place).

Importing this package registers every table on `base.Base.metadata` (the migrations and the relationships
between the aggregates need them all); import each model from its own module.
"""

from dotimely_chat.storage.models import (  # noqa: F401 - registers the tables
    appointments,
    compliance,
    directory,
    status,
    uploads,
    web,
)
