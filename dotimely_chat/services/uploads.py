"""Attachments, shared by the slot IQ and the HTTP upload host: slots, PUT claims, files, housekeeping.

A slot is committed before its IQ result is sent; a PUT claims the slot (issued -> uploading) so only one
body is ever written for it; the file row is committed before the 2xx (PRODUCT.md §8).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..config import Config, retention_seconds
from ..http_upload.errors import UploadError
from ..http_upload.slots import FileLayout, SlotFacts, SlotSigner, file_url, load_signing_key, new_file_id
from ..policies.uploads import KINDS, UploadLimits, may_upload, normalize_content_type, safe_filename
from ..storage import Database, UploadRepository, utcnow

log = logging.getLogger(__name__)

QUOTA_WINDOW = dt.timedelta(hours=24)
UPLOADING_GRACE = dt.timedelta(days=1)  # a slot being written is kept this long past its expiry


@dataclass(frozen=True)
class UploadSettings:
    limits: UploadLimits
    public_url: str
    slot_lifetime: dt.timedelta
    retention: dt.timedelta | None

    @classmethod
    def from_config(cls, config: Config) -> UploadSettings:
        u = config.upload
        limits = UploadLimits(
            types={kind: frozenset(getattr(u, f"{kind}_types")) for kind in KINDS},
            max_size={kind: getattr(u, f"{kind}_max_size") for kind in KINDS},
            max_file_size=u.max_file_size, daily_quota=u.daily_quota)
        seconds = retention_seconds(config.archive.retention)
        return cls(limits, config.http.upload_public_url, dt.timedelta(seconds=u.slot_expires_after),
                   dt.timedelta(seconds=seconds) if seconds is not None else None)


@dataclass(frozen=True)
class Uploader:
    person_id: int
    business_id: int  # the first business of a person who belongs to several
    jid: str


@dataclass(frozen=True)
class IssuedSlot:
    file_id: str
    url: str  # PUT and GET
    token: str  # sent as 'Authorization: Bearer <token>' with the PUT
    expires_at: dt.datetime


@dataclass(frozen=True)
class PutClaim:
    """The right to write one slot's body, held by one PUT."""

    file_id: str
    size: int
    content_type: str
    business_id: int
    person_id: int
    uploader_jid: str
    filename: str


@dataclass(frozen=True)
class ServedFile:
    path: Path
    filename: str
    content_type: str
    size: int


@dataclass
class HousekeepingReport:
    slots_expired: int = 0
    files_retired: int = 0
    partials_removed: int = 0
    orphans_removed: int = 0


class UploadService:
    def __init__(self, database: Database, config: Config) -> None:
        self.database = database
        self.settings = UploadSettings.from_config(config)
        self.layout = FileLayout(config.upload_directory)
        self.layout.ensure()
        self.signer = SlotSigner(load_signing_key(config.state_directory))
        self.active_partials: set[Path] = set()  # bodies being written now (housekeeping leaves them)
        self._quota_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._write_lock = asyncio.Lock()

    # -------------------------------------------------------------------------------------- who asks
    async def uploader(self, jid: str) -> Uploader | None:
        """The person with this bare JID (exact match) if they belong to a business."""
        async with self.database.session() as session:
            found = await UploadRepository(session).uploader(jid)
        return Uploader(found[0], found[1], jid) if found else None

    def _writing(self, person_id: int) -> asyncio.Lock:
        """The lock a quota check and its slot insert hold together. On SQLite one lock for everyone: the
        writes are serialised anyway, and waiting here beats SQLite's sleeping busy handler."""
        return self._write_lock if self.database.dialect_name == "sqlite" else self._quota_locks[person_id]

    # ------------------------------------------------------------------------------------------ slots
    async def request_slot(self, jid: str, filename: str | None, size: int, content_type: str | None
                           ) -> IssuedSlot:
        """Decide by the policy and record the slot (committed before this returns)."""
        uploader = await self.uploader(jid)
        limits = self.settings.limits
        if uploader is None:
            decision = may_upload(is_member=False, content_type=content_type, size=size, used_today=0,
                                  limits=limits)
            log.info("Upload slot refused to %s: %s", jid, decision.reason)
            raise UploadError(decision.reason or "not_a_member", decision.message)
        name = safe_filename(filename)
        ctype = normalize_content_type(content_type) or ""
        file_id = new_file_id()
        async with self._writing(uploader.person_id):  # two requests at once must not both fit the quota
            now = utcnow()
            expires_at = now + self.settings.slot_lifetime
            async with self.database.session() as session:
                uploads = UploadRepository(session)
                used = await uploads.bytes_used(uploader.person_id, now - QUOTA_WINDOW, now)
                decision = may_upload(is_member=True, content_type=content_type, size=size, used_today=used,
                                      limits=limits)
                if not decision.allowed:
                    log.info("Upload slot refused to %s (business %d): %s, %d bytes of %s", jid,
                             uploader.business_id, decision.reason, size, content_type)
                    raise UploadError(decision.reason or "bad_request", decision.message, decision.max_size)
                await uploads.add_slot(uploader.business_id, uploader.person_id, file_id, name, size, ctype,
                                       expires_at)
                await session.commit()
        log.info("Upload slot %s… for %s (business %d): %s, %d bytes", file_id[:6], jid, uploader.business_id,
                 ctype, size)
        token = self.signer.token(SlotFacts(file_id, size, ctype, int(expires_at.timestamp())))
        return IssuedSlot(file_id, file_url(self.settings.public_url, file_id, name), token, expires_at)

    # -------------------------------------------------------------------------------------------- PUT
    async def claim(self, file_id: str, filename: str, token: str | None, declared_length: int | None,
                    content_type: str | None) -> PutClaim:
        """Check a PUT against its slot and take the slot; raises UploadError with the reason."""
        async with self.database.session() as session:
            uploads = UploadRepository(session)
            slot = await uploads.slot_for_put(file_id)
            if slot is None:
                if await uploads.file_for_get(file_id) is not None:
                    raise UploadError("already_uploaded", "this file exists; a slot is used once")
                raise UploadError("wrong_token", "no such upload slot")
            facts = SlotFacts(file_id, slot.size, slot.content_type, int(slot.expires_at.timestamp()))
            if token is None or not self.signer.verify(facts, token):
                log.warning("PUT with a wrong token for slot %s… of %s (business %d)", file_id[:6], slot.jid,
                            slot.business_id)
                raise UploadError("wrong_token", "missing or wrong Authorization for this slot")
            if filename != slot.filename:
                raise UploadError("not_found", "the URL does not name this slot's file")
            if slot.state == "done":
                raise UploadError("already_uploaded", "this file exists; a slot is used once")
            if slot.state == "uploading":
                raise UploadError("upload_in_progress", "this slot is being uploaded")
            if slot.expires_at <= utcnow():
                raise UploadError("expired", "the upload slot has expired; ask for a new one")
            if normalize_content_type(content_type) != slot.content_type:
                raise UploadError("type_mismatch", f"Content-Type must be {slot.content_type}, as in the slot")
            if declared_length is not None and declared_length > slot.size:
                raise UploadError("file_too_large", f"the slot is for {slot.size} bytes", slot.size)
            if declared_length is not None and declared_length < slot.size:
                raise UploadError("size_mismatch", f"Content-Length must be {slot.size}, as in the slot")
            async with self._writing(slot.person_id):
                if not await uploads.set_slot_state(file_id, "issued", "uploading"):
                    raise UploadError("upload_in_progress", "this slot is being uploaded")
                await session.commit()
        return PutClaim(file_id, slot.size, slot.content_type, slot.business_id, slot.person_id, slot.jid,
                        slot.filename)

    async def release(self, claim: PutClaim) -> None:
        """A PUT failed: the slot may be tried again until it expires."""
        async with self._writing(claim.person_id), self.database.session() as session:
            await UploadRepository(session).set_slot_state(claim.file_id, "uploading", "issued")
            await session.commit()

    async def complete(self, claim: PutClaim, sha256: str) -> None:
        """Record the stored file (committed before the PUT is answered)."""
        async with self._writing(claim.person_id), self.database.session() as session:
            uploads = UploadRepository(session)
            if not await uploads.set_slot_state(claim.file_id, "uploading", "done"):
                raise UploadError("expired", "the upload slot was withdrawn")
            await uploads.add_file(claim.file_id, claim.business_id, claim.person_id, claim.uploader_jid,
                                   claim.filename, claim.size, claim.content_type, sha256)
            await session.commit()
        log.info("Stored file %s… from %s (business %d): %s, %d bytes", claim.file_id[:6], claim.uploader_jid,
                 claim.business_id, claim.content_type, claim.size)

    # -------------------------------------------------------------------------------------------- GET
    async def find_file(self, file_id: str, filename: str) -> ServedFile | None:
        async with self.database.session() as session:
            stored = await UploadRepository(session).file_for_get(file_id)
        if stored is None or stored.filename != filename:
            return None
        path = self.layout.final_path(file_id)
        if not path.is_file():
            return None
        return ServedFile(path, stored.filename, stored.content_type, stored.size)

    # ----------------------------------------------------------------------------------- housekeeping
    async def housekeeping(self, now: dt.datetime | None = None, orphan_age: float = 3600.0
                           ) -> HousekeepingReport:
        """Expire slots, retire files past the archive retention, remove partial and orphan files."""
        now = now or utcnow()
        report = HousekeepingReport()
        async with self.database.session() as session:
            report.slots_expired = await UploadRepository(session).delete_stale_slots(now, UPLOADING_GRACE)
            await session.commit()
        if self.settings.retention is not None:
            report.files_retired = await self._retire(now - self.settings.retention)
        report.partials_removed, report.orphans_removed = await self._sweep_disk(now, orphan_age)
        return report

    async def _retire(self, before: dt.datetime) -> int:
        retired = 0
        while True:
            async with self.database.session() as session:
                uploads = UploadRepository(session)
                files = await uploads.files_created_before(before)
                if not files:
                    return retired
                for stored in files:
                    self.layout.final_path(stored.file_id).unlink(missing_ok=True)
                    log.info("Retention: deleted file %s… of business %d from %s", stored.file_id[:6],
                             stored.business_id, stored.created_at.date())
                await uploads.delete_files([f.file_id for f in files])
                await session.commit()
                retired += len(files)

    async def _sweep_disk(self, now: dt.datetime, orphan_age: float) -> tuple[int, int]:
        partials = 0
        for path in self.layout.partial_dir.iterdir():
            if path not in self.active_partials:
                path.unlink(missing_ok=True)
                partials += 1
        old = now.timestamp() - orphan_age
        candidates = {p.name: p for p in self.layout.files_dir.glob("*/*") if p.stat().st_mtime < old}
        orphans = 0
        names = sorted(candidates)
        for start in range(0, len(names), 500):
            batch = names[start:start + 500]
            async with self.database.session() as session:
                known = await UploadRepository(session).known_file_ids(batch)
            for name in batch:
                if name not in known:
                    candidates[name].unlink(missing_ok=True)
                    orphans += 1
        if partials or orphans:
            log.info("Upload housekeeping removed %d partial and %d orphan files", partials, orphans)
        return partials, orphans
