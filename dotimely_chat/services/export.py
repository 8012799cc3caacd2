"""Exports of a business (PRODUCT.md §5): every room of the business in a time range, each message from the
server's MUC archive (read by the component, `component/muc_archive.py`) joined by stanza-id with the
per-member delivery and read times we recorded, then the audit entries. Yields plain records (dicts); the
formats are in `export_formats.py`. Also the single-use, expiring download links of the `export` command.

Who may export is decided by `policies/exports.py` at every step: when the export or the link is asked
for, and again when a link is downloaded (an owner removed meanwhile gets nothing).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from ..component.muc_archive import ArchivedMessage, ArchiveError
from ..errors import BAD_REQUEST, FORBIDDEN, NOT_FOUND, DomainError, ErrorKind
from ..policies.exports import (
    LINK_LIFETIME,
    ExportFormat,
    ExportRange,
    ExportRequestError,
    link_state,
    may_export,
    parse_format,
    parse_range,
)
from ..storage import AuditRepository, BusinessRepository, Database, MembershipRepository, PersonRepository, utcnow
from ..storage.compliance_store import ExportLinkRepository, ExportPerson, ExportReads, ExportRoom, RecordedStatus
from ..storage.models.directory import Business
from .status_queries import overall

log = logging.getLogger(__name__)

LINK_GONE = ErrorKind("link_gone", 410, "gone")
STATUS_BATCH = 250
ArchiveReader = Callable[..., AsyncIterator[ArchivedMessage]]  # (room_jid, start=, end=) -> messages


@dataclass(frozen=True)
class ExportRequest:
    """A checked request: the business, the range, the format and who asked (a JID, or 'api')."""

    business_id: int
    business_ext: str
    business_name: str
    range: ExportRange
    format: ExportFormat
    actor: str


@dataclass(frozen=True)
class IssuedLink:
    url: str
    expires_at: dt.datetime


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_error(exc: ExportRequestError) -> DomainError:
    return DomainError(BAD_REQUEST, str(exc), field=exc.parameter)


class ExportService:
    def __init__(self, database: Database, read_archive: ArchiveReader, observer_jid: str, public_url: str,
                 link_lifetime: dt.timedelta = LINK_LIFETIME) -> None:
        self.database, self.read_archive, self.observer = database, read_archive, observer_jid
        self.public_url, self.link_lifetime = public_url.rstrip("/"), link_lifetime

    # ---------------------------------------------------------------------------------------- requests
    async def check(self, business_ext: str, raw_from: str | None, raw_to: str | None, raw_format: str | None,
                    *, viewer_ext: str | None = None, viewer_jid: str | None = None) -> ExportRequest:
        """Parse and authorise; `viewer_*` None means the booking backend (its token). Raises DomainError."""
        try:
            export_range = parse_range(raw_from, raw_to, utcnow())
            fmt = parse_format(raw_format)
        except ExportRequestError as exc:
            raise request_error(exc) from None
        async with self.database.session() as session:
            # A deleted business's history is exported until retention expires it (for the booking backend:
            # its former owners are no longer owners).
            business = await BusinessRepository(session).get_by_external_id(business_ext, include_deleted=True)
            if business is None:
                raise DomainError(NOT_FOUND, f"no business {business_ext!r}")
            actor = await self._authorise(session, business, viewer_ext, viewer_jid)
        return ExportRequest(business.id, business.external_id, business.name, export_range, fmt, actor)

    async def _authorise(self, session: Any, business: Business, viewer_ext: str | None,
                         viewer_jid: str | None) -> str:
        if viewer_ext is None and viewer_jid is None:
            return "api"
        people = PersonRepository(session)
        person = await people.get_by_external_id(viewer_ext) if viewer_ext else await people.get_by_jid(
            viewer_jid or "")
        membership = await MembershipRepository(session).get(business.id, person.id) if person else None
        decision = may_export(membership.role if membership else None)
        if not decision.allowed or person is None:
            raise DomainError(FORBIDDEN, decision.reason, field="viewer" if viewer_ext else "requester")
        return person.jid

    async def owned_businesses(self, jid: str) -> list[tuple[str, str]]:
        """(external id, name) of the businesses `jid` owns: what the `export` command offers."""
        async with self.database.session() as session:
            person = await PersonRepository(session).get_by_jid(jid)
            if person is None:
                return []
            return [(m.business.external_id, m.business.name)
                    for m in await MembershipRepository(session).businesses_of_person(person.id)
                    if may_export(m.role).allowed]

    async def record(self, request: ExportRequest, via: str) -> None:
        """The audit entry of an export (who, when, which range and format, through what)."""
        async with self.database.session() as session:
            AuditRepository(session).add(request.business_id, request.actor, "export", details={
                "from": request.range.start.isoformat(), "to": request.range.end.isoformat(),
                "format": request.format, "via": via})
            await session.commit()
        log.info("Export of %s (%s to %s, %s) by %s via %s", request.business_ext, request.range.start,
                 request.range.end, request.format, request.actor, via)

    # ------------------------------------------------------------------------------------------- links
    async def issue_link(self, request: ExportRequest) -> IssuedLink:
        """A download link that works once and expires; only the token's SHA-256 is stored."""
        token = secrets.token_urlsafe(32)  # 256 random bits
        expires_at = utcnow() + self.link_lifetime
        async with self.database.session() as session:
            ExportLinkRepository(session).add(_token_digest(token), request.business_id, request.actor,
                                              request.range.start, request.range.end, request.format, expires_at)
            AuditRepository(session).add(request.business_id, request.actor, "export_link_issued", details={
                "from": request.range.start.isoformat(), "to": request.range.end.isoformat(),
                "format": request.format, "expires_at": expires_at.isoformat()})
            await session.commit()
        return IssuedLink(f"{self.public_url}/v1/exports/{token}", expires_at)

    async def redeem(self, token: str) -> ExportRequest:
        """The export a link stands for; marks it used. The requester must still own the business."""
        now = utcnow()
        async with self.database.session() as session:
            links = ExportLinkRepository(session)
            link = await links.get(_token_digest(token)) if 16 <= len(token) <= 128 else None
            if link is None:
                raise DomainError(NOT_FOUND, "no such export link; ask for a new one with the 'export' command")
            if state := link_state(link.expires_at, link.used_at, now):
                when = link.used_at if state == "used" else link.expires_at
                raise DomainError(LINK_GONE, f"this export link was {state} at {when.isoformat() if when else '?'}; "
                                  "links work once and expire: ask for a new one with the 'export' command")
            business = await BusinessRepository(session).get(link.business_id)
            if business is None:
                raise DomainError(NOT_FOUND, "the business of this export link no longer exists")
            actor = await self._authorise(session, business, None, link.requested_by)
            if not await links.claim(link.id, now):
                raise DomainError(LINK_GONE, "this export link was just used; links work once")
            fmt = parse_format(link.format)
            await session.commit()
        return ExportRequest(business.id, business.external_id, business.name,
                             ExportRange(link.range_from, link.range_to), fmt, actor)

    # ----------------------------------------------------------------------------------------- content
    async def records(self, request: ExportRequest) -> AsyncIterator[dict[str, Any]]:
        """The export as records: 'export' first, then per room 'room' and its 'message's, then 'audit'
        entries, then 'end' with the counts (a consumer missing 'end' knows the export broke off)."""
        start, end = request.range.start, request.range.end
        async with self.database.session() as session:
            reads = ExportReads(session, request.business_id)
            rooms = await reads.rooms(created_before=end)
            people = await reads.people()
        yield {"type": "export", "business": request.business_ext, "name": request.business_name,
               "from": start.isoformat(), "to": end.isoformat(), "generated_at": utcnow().isoformat(),
               "requested_by": request.actor, "format_version": 1}
        by_jid = {p.jid: p for p in people.values()}
        counts = {"rooms": 0, "messages": 0, "audit_entries": 0, "unavailable_rooms": 0}
        for room in rooms:
            listed = False
            if start <= room.created_at < end:
                yield self._room(room)
                listed = True
            try:
                async for batch in self._batches(room, start, end):
                    if not listed:
                        yield self._room(room)
                        listed = True
                    async with self.database.session() as session:
                        reads = ExportReads(session, request.business_id)
                        statuses = await reads.statuses(room.id, [m.stanza_id for m in batch])
                        unknown = {s.person_id for rows in statuses.values() for s in rows} - set(people)
                        people.update(await reads.former_people(unknown))
                    for message in batch:
                        counts["messages"] += 1
                        yield self._message(room, message, by_jid, people, statuses.get(message.stanza_id))
            except ArchiveError as exc:
                counts["unavailable_rooms"] += 1
                log.warning("Export of %s: the archive of room %s failed: %s", request.business_ext, room.jid,
                            exc.condition)
                yield {"type": "warning", "room": room.jid,
                       "warning": f"the server's archive of this room could not be read ({exc.condition})"}
            counts["rooms"] += listed
        async with self.database.session() as session:
            async for entry in ExportReads(session, request.business_id).audit(start, end):
                counts["audit_entries"] += 1
                yield {"type": "audit", "at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action,
                       "room": entry.room_jid, "subject": entry.subject_jid, "details": json.loads(entry.details)}
        yield {"type": "end", **counts}

    async def _batches(self, room: ExportRoom, start: dt.datetime, end: dt.datetime
                       ) -> AsyncIterator[list[ArchivedMessage]]:
        """What was said in the room within [start, end): bodies and attachments (markers and receipts are
        status, read from our records), in batches for the status lookups."""
        batch: list[ArchivedMessage] = []
        # MAM bounds are whole seconds and inclusive: ask wide, cut exactly here.
        async for message in self.read_archive(room.jid, start=start.replace(microsecond=0), end=end):
            if not (start <= message.sent_at < end) or (not message.body and not message.attachment_urls):
                continue
            batch.append(message)
            if len(batch) >= STATUS_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    @staticmethod
    def _room(room: ExportRoom) -> dict[str, Any]:
        return {"type": "room", "room": room.jid, "conversation": room.jid.split("@")[0], "name": room.name,
                "audience": room.audience, "created_at": room.created_at.isoformat(),
                "appointment": {"id": room.appointment, "service": room.service_name,
                                "starts_at": room.starts_at.isoformat(), "status": room.appointment_status}}

    def _message(self, room: ExportRoom, message: ArchivedMessage, by_jid: dict[str, ExportPerson],
                 people: dict[int, ExportPerson], statuses: list[RecordedStatus] | None) -> dict[str, Any]:
        members = [{"jid": people[s.person_id].jid if s.person_id in people else None,
                    "name": people[s.person_id].name if s.person_id in people else None,
                    "role": people[s.person_id].role if s.person_id in people else None,
                    "delivered_at": _iso(s.delivered_at), "delivered_via": s.delivered_via,
                    "read_at": _iso(s.read_at)} for s in statuses or ()]
        return {"type": "message", "room": room.jid, "appointment": room.appointment,
                "stanza_id": message.stanza_id, "sent_at": message.sent_at.isoformat(),
                "sender": self._sender(message, by_jid), "body": message.body,
                "attachments": list(message.attachment_urls),
                "status": overall(members) if statuses is not None else None, "members": members}

    def _sender(self, message: ArchivedMessage, by_jid: dict[str, ExportPerson]) -> dict[str, Any]:
        jid = message.sender_jid
        if jid == self.observer:
            return {"jid": jid, "name": "DoTimely", "role": "system", "nick": message.nick}
        person = by_jid.get(jid or "")
        if person is not None:
            return {"jid": jid, "name": person.name, "role": person.role, "nick": message.nick}
        return {"jid": jid, "name": message.nick, "role": None, "nick": message.nick}
