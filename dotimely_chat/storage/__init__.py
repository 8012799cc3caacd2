"""Storage: models, the database handle, repositories and migrations.

Repositories take the business id first and never commit; the use case owns the transaction.
"""

from dotimely_chat.storage.database import Database, describe_url, normalize_url, sqlite_url_for
from dotimely_chat.storage.migrate import (
    MigrationError,
    current_revision,
    downgrade_database,
    head_revision,
    upgrade_database,
)
from dotimely_chat.storage.models import (
    APPOINTMENT_STATUSES,
    Appointment,
    AppointmentStatus,
    AuditEntry,
    Base,
    Business,
    Membership,
    Person,
    Room,
    RosterItem,
    UploadedFile,
    UploadSlot,
)
from dotimely_chat.storage.repositories import (
    AppointmentRepository,
    AuditRepository,
    BusinessRepository,
    DirectoryQueries,
    MembershipRepository,
    PersonRepository,
    RoomRepository,
    RosterItemRepository,
    UploadRepository,
)
from dotimely_chat.storage.types import UTCDateTime, utcnow

__all__ = [
    "APPOINTMENT_STATUSES",
    "Appointment",
    "AppointmentRepository",
    "AppointmentStatus",
    "Base",
    "Business",
    "BusinessRepository",
    "Database",
    "Membership",
    "MembershipRepository",
    "MigrationError",
    "Person",
    "PersonRepository",
    "Room",
    "RoomRepository",
    "AuditEntry",
    "AuditRepository",
    "RosterItem",
    "RosterItemRepository",
    "DirectoryQueries",
    "UTCDateTime",
    "UploadRepository",
    "UploadSlot",
    "UploadedFile",
    "current_revision",
    "describe_url",
    "downgrade_database",
    "head_revision",
    "normalize_url",
    "sqlite_url_for",
    "upgrade_database",
    "utcnow",
]
