"""Upload slots and stored files: the statements of the attachments' hot paths, built once, and the
two repositories that run them (on an AsyncSession, and on the upload writer's Core connection)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Table,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    select,
    true,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from dotimely_chat.storage.models.directory import Membership, Person
from dotimely_chat.storage.models.uploads import UploadedFile, UploadSlot
from dotimely_chat.storage.types import utcnow

# The hot paths of attachments (slot, PUT, GET) run these statements, built once on the tables: building
# and caching an ORM statement per call cost more CPU than the query itself (bench/uploads.py). A slot is
# used once its file row exists (same file_id, unique): one INSERT records a PUT.
_SLOTS, _FILES = cast(Table, UploadSlot.__table__), cast(Table, UploadedFile.__table__)
_PEOPLE, _MEMBERSHIPS = cast(Table, Person.__table__), cast(Table, Membership.__table__)
_UNUSED = ~exists().where(_FILES.c.file_id == _SLOTS.c.file_id)
_UPLOADER = (select(_PEOPLE.c.id, func.min(_MEMBERSHIPS.c.business_id))
             .join(_MEMBERSHIPS, _MEMBERSHIPS.c.person_id == _PEOPLE.c.id)
             .where(_PEOPLE.c.jid == bindparam("jid")).group_by(_PEOPLE.c.id))
# (person, first business, bytes stored since :since + bytes of open slots) in one round trip.
_QUOTA = (select(_PEOPLE.c.id, func.min(_MEMBERSHIPS.c.business_id),
                 select(func.coalesce(func.sum(_FILES.c.size), 0)).where(
                     _FILES.c.person_id == _PEOPLE.c.id, _FILES.c.created_at >= bindparam("since"))
                 .scalar_subquery()
                 + select(func.coalesce(func.sum(_SLOTS.c.size), 0)).where(
                     _SLOTS.c.person_id == _PEOPLE.c.id, _SLOTS.c.expires_at > bindparam("now"), _UNUSED)
                 .scalar_subquery())
          .join(_MEMBERSHIPS, _MEMBERSHIPS.c.person_id == _PEOPLE.c.id)
          .where(_PEOPLE.c.jid == bindparam("jid")).group_by(_PEOPLE.c.id))
# The slot writer's batch: membership of every asker in one query, and the usage of people not yet in its
# ledger (files stored since :since, unused slots not expired) in another.
_UPLOADERS = (select(_PEOPLE.c.jid, _PEOPLE.c.id, func.min(_MEMBERSHIPS.c.business_id))
              .join(_MEMBERSHIPS, _MEMBERSHIPS.c.person_id == _PEOPLE.c.id)
              .where(_PEOPLE.c.jid.in_(bindparam("jids", expanding=True))).group_by(_PEOPLE.c.id, _PEOPLE.c.jid))
_USAGE = union_all(
    select(_FILES.c.person_id, _FILES.c.file_id, _FILES.c.size, _FILES.c.created_at, false()).where(
        _FILES.c.person_id.in_(bindparam("people", expanding=True)), _FILES.c.created_at >= bindparam("since")),
    select(_SLOTS.c.person_id, _SLOTS.c.file_id, _SLOTS.c.size, _SLOTS.c.expires_at, true()).where(
        _SLOTS.c.person_id.in_(bindparam("people", expanding=True)), _SLOTS.c.expires_at > bindparam("now"),
        _UNUSED))
_SLOT_FOR_PUT = (select(_SLOTS.c.business_id, _SLOTS.c.person_id, _SLOTS.c.filename, _SLOTS.c.size,
                        _SLOTS.c.content_type, _SLOTS.c.expires_at, _PEOPLE.c.jid, ~_UNUSED)
                 .join(_PEOPLE, _PEOPLE.c.id == _SLOTS.c.person_id).where(_SLOTS.c.file_id == bindparam("file_id")))
# The file row, from its slot (which must still exist: a person or business deleted takes it along).
_ADD_FILE = insert(_FILES).from_select(
    ["file_id", "business_id", "person_id", "uploader_jid", "filename", "size", "content_type", "sha256",
     "created_at"],
    select(_SLOTS.c.file_id, _SLOTS.c.business_id, _SLOTS.c.person_id, bindparam("uploader_jid"),
           _SLOTS.c.filename, _SLOTS.c.size, _SLOTS.c.content_type, bindparam("sha256"),
           bindparam("created_at", type_=UploadedFile.created_at.type))
    .where(_SLOTS.c.file_id == bindparam("slot_file_id"), _UNUSED))
_FILE_FOR_GET = select(_FILES.c.filename, _FILES.c.content_type, _FILES.c.size).where(
    _FILES.c.file_id == bindparam("file_id"))


class UploadRepository:
    """Upload slots and stored files, looked up by their unguessable file id (the URL is the capability);
    quota by person, listings and retention by business or time."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def uploader(self, jid: str) -> tuple[int, int] | None:
        """(person id, first business id) of the person with this bare JID, if they belong to a business."""
        row = (await self._session.execute(_UPLOADER, {"jid": jid})).first()
        return (row[0], row[1]) if row else None

    async def uploader_with_usage(self, jid: str, since: dt.datetime, now: dt.datetime
                                  ) -> tuple[int, int, int] | None:
        """(person id, first business id, bytes used: stored since `since` + open slots) or None."""
        row = (await self._session.execute(_QUOTA, {"jid": jid, "since": since, "now": now})).first()
        return (row[0], row[1], int(row[2])) if row else None

    async def add_slot(self, business_id: int, person_id: int, file_id: str, filename: str, size: int,
                       content_type: str, expires_at: dt.datetime) -> None:
        await self._session.execute(insert(_SLOTS), {
            "business_id": business_id, "person_id": person_id, "file_id": file_id, "filename": filename,
            "size": size, "content_type": content_type, "expires_at": expires_at, "created_at": utcnow()})

    async def get_slot(self, file_id: str) -> UploadSlot | None:
        return (await self._session.scalars(select(UploadSlot).where(UploadSlot.file_id == file_id))).one_or_none()

    async def slot_for_put(self, file_id: str) -> Any:
        """The slot's fields, its person's JID and whether it is used (a Row), or None."""
        return (await self._session.execute(_SLOT_FOR_PUT, {"file_id": file_id})).first()

    async def add_file(self, file_id: str, uploader_jid: str, sha256: str) -> bool:
        """Record the file of an unused slot; False when the slot is gone or used (nothing written)."""
        result = await self._session.execute(_ADD_FILE, {
            "slot_file_id": file_id, "uploader_jid": uploader_jid, "sha256": sha256, "created_at": utcnow()})
        return cast(CursorResult[Any], result).rowcount == 1

    async def get_file(self, file_id: str) -> UploadedFile | None:
        query = select(UploadedFile).where(UploadedFile.file_id == file_id)
        return (await self._session.scalars(query)).one_or_none()

    async def file_for_get(self, file_id: str) -> Any:
        """(filename, content_type, size) of a stored file (a Row), or None."""
        return (await self._session.execute(_FILE_FOR_GET, {"file_id": file_id})).first()

    async def files_of_business(self, business_id: int, limit: int = 1000) -> Sequence[UploadedFile]:
        query = (select(UploadedFile).where(UploadedFile.business_id == business_id)
                 .order_by(UploadedFile.created_at, UploadedFile.id).limit(limit))
        return (await self._session.scalars(query)).all()

    async def delete_stale_slots(self, now: dt.datetime, keep: Collection[str] = ()) -> int:
        """Forget expired slots but those in `keep` (being uploaded: a slow PUT may outlast its slot)."""
        statement = delete(UploadSlot).where(UploadSlot.expires_at < now)
        if keep:
            statement = statement.where(UploadSlot.file_id.not_in(list(keep)))
        result = await self._session.execute(statement.returning(UploadSlot.id))
        return len(result.all())

    async def files_created_before(self, before: dt.datetime, limit: int = 500) -> Sequence[UploadedFile]:
        query = (select(UploadedFile).where(UploadedFile.created_at < before)
                 .order_by(UploadedFile.created_at).limit(limit))
        return (await self._session.scalars(query)).all()

    async def delete_files(self, file_ids: Collection[str]) -> None:
        await self._session.execute(delete(UploadedFile).where(UploadedFile.file_id.in_(list(file_ids))))

    async def known_file_ids(self, candidates: Collection[str]) -> set[str]:
        """Which of `candidates` have a stored file or a slot (the rest on disk are orphans)."""
        ids = list(candidates)
        files = await self._session.scalars(select(UploadedFile.file_id).where(UploadedFile.file_id.in_(ids)))
        slots = await self._session.scalars(select(UploadSlot.file_id).where(UploadSlot.file_id.in_(ids)))
        return set(files.all()) | set(slots.all())


class UploadBatchRepository:
    """The upload writer's statements on a synchronous Core connection: the writer runs a whole batch in
    one call (SQLite: in its own thread; PostgreSQL: through `run_sync`) instead of awaiting each statement
    (on aiosqlite, each costs several thread hops). The same statements as UploadRepository; never commits."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def uploaders(self, jids: Collection[str]) -> dict[str, tuple[int, int]]:
        """{bare JID: (person id, first business id)} of those of `jids` who belong to a business."""
        rows = self._connection.execute(_UPLOADERS, {"jids": list(jids)})
        return {row[0]: (row[1], row[2]) for row in rows}

    def usage_rows(self, person_ids: Collection[int], since: dt.datetime, now: dt.datetime
                   ) -> list[tuple[int, str, int, dt.datetime, bool]]:
        """(person id, file id, size, when, is a slot) of files stored since `since` and of unused slots not
        expired at `now` (`when`: stored at, or expires at): what the quota counts."""
        rows = self._connection.execute(_USAGE, {"people": list(person_ids), "since": since, "now": now})
        return [(row[0], row[1], int(row[2]), row[3], bool(row[4])) for row in rows]

    def add_slots(self, slots: Sequence[dict[str, Any]]) -> None:
        """Insert slots (dicts of business_id, person_id, file_id, filename, size, content_type, expires_at,
        created_at) in one executemany."""
        self._connection.execute(insert(_SLOTS), list(slots))

    def add_file(self, file_id: str, uploader_jid: str, sha256: str, created_at: dt.datetime) -> bool:
        """Record the file of an unused slot; False when the slot is gone or used (nothing written)."""
        result = self._connection.execute(_ADD_FILE, {
            "slot_file_id": file_id, "uploader_jid": uploader_jid, "sha256": sha256, "created_at": created_at})
        return result.rowcount == 1
