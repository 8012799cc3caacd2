"""Attachments, shared by the slot IQ and the HTTP upload host: one method per request (a slot, a PUT, a
GET, the disco info), each running the whole use case here.

A slot is committed before its IQ result is sent; a PUT claims the slot in memory (this one process serves
every PUT), so only one body is written for it at a time; the file row, whose existence makes the slot
used, is committed before the 2xx (PRODUCT.md §8). After a crash a slot is simply still unused. Slots and
file rows are written by the upload writer (group commit), which decides the quota against a ledger in
memory: this process is the only writer of uploads (Prosody accepts one connection per component JID), and
the ledger is loaded from the database per person on first use.
Housekeeping (expiry, retention, partial and orphan files) is in housekeeping.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ...config import Config, retention_seconds
from ...errors import UploadError
from ...metrics import Metrics
from ...policies.uploads import KINDS, UploadLimits, normalize_content_type, parse_size, safe_filename
from ...storage import Database, UploadRepository, utcnow
from ...ttl_cache import TtlLru
from .file_store import BodyStream, FileLayout, receive_file
from .quota_ledger import QUOTA_WINDOW, QuotaLedger
from .records import FileMeta, SlotRecord
from .slot_tokens import SlotFacts, SlotSigner, file_url, load_signing_key, new_file_id
from .writer import UploadWriter

log = logging.getLogger(__name__)

# A GET reads a file's metadata from memory for a minute: a file removed from the database by another
# way than retention (its business deleted) stays reachable that long, and is swept from disk later.
FILE_CACHE_ENTRIES = 10_000
FILE_CACHE_SECONDS = 60.0
MAX_FILENAME_BYTES = 1024  # of a slot request's file name, UTF-8


@dataclass(frozen=True)
class UploadSettings:
    limits: UploadLimits
    public_url: str
    slot_lifetime: dt.timedelta
    retention: dt.timedelta | None
    cors_origins: frozenset[str] = frozenset()  # browser origins answered with CORS headers; "*" = any

    @classmethod
    def from_config(cls, config: Config) -> UploadSettings:
        u = config.upload
        limits = UploadLimits(
            types={kind: frozenset(getattr(u, f"{kind}_types")) for kind in KINDS},
            max_size={kind: getattr(u, f"{kind}_max_size") for kind in KINDS},
            max_file_size=u.max_file_size, daily_quota=u.daily_quota)
        seconds = retention_seconds(config.archive.retention)
        return cls(limits, config.http.upload_public_url, dt.timedelta(seconds=u.slot_expires_after),
                   dt.timedelta(seconds=seconds) if seconds is not None else None, u.cors_origins_for(config.web.public_url))


@dataclass(frozen=True)
class IssuedSlot:
    file_id: str
    url: str  # PUT and GET
    token: str  # sent as 'Authorization: Bearer <token>' with the PUT
    expires_at: dt.datetime


@dataclass(frozen=True)
class ServedFile:
    path: Path
    filename: str
    content_type: str
    size: int


class UploadService:
    def __init__(self, database: Database, config: Config, metrics: Metrics | None = None) -> None:
        self.database = database
        self.metrics = metrics or Metrics()
        self.settings = UploadSettings.from_config(config)
        self.layout = FileLayout(config.upload_directory)
        self.layout.ensure()
        self.signer = SlotSigner(load_signing_key(config.state_directory))
        self.active_partials: set[Path] = set()  # bodies being written now (housekeeping leaves them)
        self.ledger = QuotaLedger(QUOTA_WINDOW)
        self.writer = UploadWriter(database, self.ledger, lambda: self.settings.limits,
                                   lambda: self.settings.slot_lifetime)
        self.claims: set[str] = set()  # file ids whose PUT is running
        self.slots: dict[str, SlotRecord] = {}  # issued here, until they expire (housekeeping)
        self.files: TtlLru[str, FileMeta] = TtlLru(FILE_CACHE_ENTRIES, FILE_CACHE_SECONDS)

    # ------------------------------------------------------------------------------------ disco info
    async def announced_max_size(self, jid: str) -> int | None:
        """The max-file-size announced to this bare JID (exact match), or None: not a person of a business,
        so no upload service is shown."""
        async with self.database.session() as session:
            found = await UploadRepository(session).uploader(jid)
        return self.settings.limits.announced_max_size if found else None

    # ------------------------------------------------------------------------------------------ slots
    async def request_slot(self, jid: str, filename: str, size: str | None, content_type: str | None
                           ) -> IssuedSlot:
        """Decide by the policy and record the slot (committed before this returns): the writer decides
        requests one after the other against the quota ledger, so two at once never both fit. `size` is
        the request's attribute as sent ("+16", " 16", "1_6" are refused)."""
        size_bytes = parse_size(size)
        if size_bytes is None or len(filename.encode()) > MAX_FILENAME_BYTES:
            log.info("Upload slot request from %s refused: size %r, a file name of %d bytes", jid,
                     (size or "")[:40], len(filename.encode()))
            self.metrics.upload_refused("slot", "bad_request")
            raise UploadError("bad_request", "size must be a whole number of bytes in decimal digits and the "
                                             "file name at most 1 KiB")
        name = safe_filename(filename)
        ctype = normalize_content_type(content_type) or ""
        try:
            slot = await self.writer.slot(jid, name, size_bytes, content_type, ctype, new_file_id())
        except UploadError as exc:
            self.metrics.upload_refused("slot", exc.reason)
            raise
        self.metrics.upload_slots.inc()
        self.slots[slot.file_id] = slot
        log.info("Upload slot %s… for %s (business %d): %s, %d bytes", slot.file_id[:6], jid, slot.business_id,
                 ctype, size_bytes)
        token = self.signer.token(SlotFacts(slot.file_id, size_bytes, ctype, int(slot.expires_at.timestamp())))
        return IssuedSlot(slot.file_id, file_url(self.settings.public_url, slot.file_id, name), token,
                          slot.expires_at)

    # -------------------------------------------------------------------------------------------- PUT
    async def put_file(self, file_id: str, filename: str, *, token: str | None, declared_length: int | None,
                       content_type: str | None, body: BodyStream, broken: tuple[type[Exception], ...],
                       accepted: Callable[[], Awaitable[None]]) -> None:
        """A PUT to a slot's URL: check it against the slot and take the slot, then `accepted()` (the door
        may now ask for the body), stream `body` to disk (`broken`: what its reads raise when the client
        goes away), record the file (committed before this returns). Raises UploadError with the reason,
        counted and logged here; the slot may be used again after a failure until it expires."""
        try:
            slot = await self._claim(file_id, filename, token, declared_length, content_type)
        except UploadError as exc:
            self.metrics.upload_refused("put", exc.reason)
            raise
        try:
            await accepted()
            sha256 = await receive_file(body, slot.size, file_id, self.layout, self.active_partials, broken)
            await self._record(slot, sha256)
        except UploadError as exc:
            # One line each, no traceback: a client must not be able to flood the log with its own failures.
            if exc.reason == "interrupted":
                log.warning("PUT of %s… by %s (business %d) broke off after %d of %d bytes (%s); nothing kept, "
                            "the slot can be used again until it expires", file_id[:6], slot.jid,
                            slot.business_id, exc.details.get("received", 0), slot.size, exc.details.get("cause"))
            elif exc.reason == "storage_full":
                log.warning("PUT of %s… by %s (business %d), %d bytes, refused: the upload directory is full "
                            "(%s)", file_id[:6], slot.jid, slot.business_id, slot.size, exc.details.get("cause"))
            else:
                log.info("PUT of %s… by %s (business %d) refused: %s", file_id[:6], slot.jid, slot.business_id,
                         exc.reason)
            self.metrics.upload_refused("put", exc.reason)
            raise
        except Exception as exc:
            log.warning("PUT of %s… by %s (business %d) interrupted: %s", file_id[:6], slot.jid,
                        slot.business_id, type(exc).__name__)
            raise
        finally:
            self.claims.discard(slot.file_id)  # a failed PUT may be tried again until the slot expires

    async def _claim(self, file_id: str, filename: str, token: str | None, declared_length: int | None,
                     content_type: str | None) -> SlotRecord:
        """Check a PUT against its slot and take the slot; raises UploadError with the reason."""
        slot = self.slots.get(file_id) or await self._slot_from_database(file_id)
        facts = SlotFacts(file_id, slot.size, slot.content_type, int(slot.expires_at.timestamp()))
        if token is None or not self.signer.verify(facts, token):
            log.warning("PUT with a wrong token for slot %s… of %s (business %d)", file_id[:6], slot.jid,
                        slot.business_id)
            raise UploadError("wrong_token", "missing or wrong Authorization for this slot")
        if filename != slot.filename:
            raise UploadError("not_found", "the URL does not name this slot's file")
        if slot.done:
            raise UploadError("already_uploaded", "this file exists; a slot is used once")
        if slot.expires_at <= utcnow():
            raise UploadError("expired", "the upload slot has expired; ask for a new one")
        if normalize_content_type(content_type) != slot.content_type:
            raise UploadError("type_mismatch", f"Content-Type must be {slot.content_type}, as in the slot")
        if declared_length is not None and declared_length > slot.size:
            raise UploadError("file_too_large", f"the slot is for {slot.size} bytes", slot.size)
        if declared_length is not None and declared_length < slot.size:
            raise UploadError("size_mismatch", f"Content-Length must be {slot.size}, as in the slot")
        if file_id in self.claims:
            raise UploadError("upload_in_progress", "this slot is being uploaded")
        self.claims.add(file_id)  # no await between the check and this line: one PUT per slot
        return slot

    async def _slot_from_database(self, file_id: str) -> SlotRecord:
        """A slot issued before a restart (or already used)."""
        async with self.database.session() as session:
            uploads = UploadRepository(session)
            row = await uploads.slot_for_put(file_id)
            if row is None:
                if await uploads.file_for_get(file_id) is not None:
                    raise UploadError("already_uploaded", "this file exists; a slot is used once")
                raise UploadError("wrong_token", "no such upload slot")
        return SlotRecord(file_id, row.business_id, row.person_id, row.jid, row.filename, row.size,
                          row.content_type, row.expires_at, done=bool(row[-1]))

    async def _record(self, slot: SlotRecord, sha256: str) -> None:
        """Record the stored file (committed before the PUT is answered); if that fails, the file goes.
        The insert from the slot row is the one arbiter (a person or business deleted meanwhile). A caller
        that leaves while the row is written leaves the outcome to the writer: the file stays if its row
        was committed, else it goes."""
        written = self.writer.file(slot, sha256)
        try:
            await asyncio.shield(written)
        except asyncio.CancelledError:
            written.add_done_callback(lambda done: self._recorded(slot, done))
            raise
        except BaseException:
            self._recorded(slot, written)
            raise
        self._recorded(slot, written)

    def _recorded(self, slot: SlotRecord, written: asyncio.Future[dt.datetime]) -> None:
        if written.cancelled() or written.exception() is not None:
            self.slots.pop(slot.file_id, None)
            self.layout.final_path(slot.file_id).unlink(missing_ok=True)
            return
        slot.done = True
        self.metrics.upload_stored(slot.size)
        self.files.put(slot.file_id, FileMeta(slot.filename, slot.content_type, slot.size))
        log.info("Stored file %s… from %s (business %d): %s, %d bytes", slot.file_id[:6], slot.jid,
                 slot.business_id, slot.content_type, slot.size)

    # -------------------------------------------------------------------------------------------- GET
    async def find_file(self, file_id: str, filename: str) -> ServedFile:
        """The file a GET/HEAD of a slot's URL serves; UploadError `not_found` if there is none."""
        meta = self.files.get(file_id)
        if meta is None:
            async with self.database.session() as session:
                row = await UploadRepository(session).file_for_get(file_id)
            if row is None:
                raise UploadError("not_found", "no such file")
            meta = FileMeta(row.filename, row.content_type, row.size)
            self.files.put(file_id, meta)
        path = self.layout.final_path(file_id)
        if meta.filename != filename or not path.is_file():
            raise UploadError("not_found", "no such file")
        return ServedFile(path, meta.filename, meta.content_type, meta.size)

    def forget_file(self, file_id: str) -> None:
        self.files.discard(file_id)
