"""Storage: models, the database handle, repositories and migrations.

Repositories take the business id first and never commit; the use case owns the transaction.
"""

from dotimely_chat.policies.roles import ROLES, Role
from dotimely_chat.storage.database import Database, describe_url, normalize_url, sqlite_url_for
from dotimely_chat.storage.migrate import (
    MigrationError,
    current_revision,
    downgrade_database,
    head_revision,
    upgrade_database,
)
from dotimely_chat.storage.models.appointments import (
    APPOINTMENT_STATUSES,
    Appointment,
    AppointmentStatus,
    Room,
)
from dotimely_chat.storage.models.base import Base
from dotimely_chat.storage.models.compliance import AuditEntry
from dotimely_chat.storage.models.directory import Business, Membership, Person, RosterItem
from dotimely_chat.storage.models.uploads import UploadedFile, UploadSlot
from dotimely_chat.storage.repositories.appointments import AppointmentRepository
from dotimely_chat.storage.repositories.audit import AuditRepository
from dotimely_chat.storage.repositories.businesses import BusinessRepository
from dotimely_chat.storage.repositories.directory import DirectoryQueries
from dotimely_chat.storage.repositories.memberships import MembershipRepository
from dotimely_chat.storage.repositories.people import PersonRepository
from dotimely_chat.storage.repositories.rooms import RoomRepository
from dotimely_chat.storage.repositories.rosters import RosterItemRepository
from dotimely_chat.storage.repositories.uploads import UploadRepository
from dotimely_chat.storage.types import UTCDateTime, utcnow

__all__ = [
    "APPOINTMENT_STATUSES",
    "ROLES",
    "Appointment",
    "AppointmentRepository",
    "AppointmentStatus",
    "AuditEntry",
    "AuditRepository",
    "Base",
    "Business",
    "BusinessRepository",
    "Database",
    "DirectoryQueries",
    "Membership",
    "MembershipRepository",
    "MigrationError",
    "Person",
    "PersonRepository",
    "Role",
    "Room",
    "RoomRepository",
    "RosterItem",
    "RosterItemRepository",
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
