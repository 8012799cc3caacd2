"""Login to the web page without typing a password.

The booking backend (bearer token) asks for a one-time link for a person of a business; the browser opening
it gets a session cookie; the page then reads the person's XMPP login with that cookie. Links and cookies
carry 256 random bits and only their SHA-256 is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Config
from ..errors import NOT_FOUND, DomainError, ErrorKind
from ..policies.roles import Role
from ..policies.web_login import TOKEN_BYTES, LinkState, link_state, session_valid
from ..storage import BusinessRepository, Database, MembershipRepository, PersonRepository
from ..storage.models.directory import Business, Membership, Person
from ..storage.models.web import WebLoginTicket, WebSession
from ..storage.types import utcnow
from .web_credentials import CredentialVault

log = logging.getLogger(__name__)

NO_WEB_CREDENTIALS = ErrorKind("no_web_credentials", 409, "not-allowed")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class WebUser:
    """The person a browser session stands for, in the business the link was made for."""

    person_id: int
    person_ext: str
    jid: str
    name: str
    role: Role
    business_id: int
    business_ext: str
    business_name: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.person_ext, "jid": self.jid, "name": self.name, "role": self.role,
                "business": {"id": self.business_ext, "name": self.business_name}}


@dataclass(frozen=True)
class Redeemed:
    state: LinkState
    cookie: str | None = None  # set when the link was valid and the person still belongs to the business
    expires_at: dt.datetime | None = None
    still_member: bool = True


class WebLoginService:
    def __init__(self, database: Database, vault: CredentialVault, config: Config) -> None:
        self.database, self.vault = database, vault
        self.public_url = config.web.public_url
        self.link_lifetime = dt.timedelta(seconds=config.web.login_link_lifetime)
        self.session_lifetime = dt.timedelta(seconds=config.web.session_lifetime)

    async def issue_link(self, business_ext: str, person_ext: str) -> dict[str, Any]:
        """A link that logs this person in once, within the link lifetime."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = utcnow()
        async with self.database.session() as session:
            business, person, _ = await self._member(session, business_ext, person_ext)
            if await self.vault.password_of(session, person.id) is None:
                raise DomainError(NO_WEB_CREDENTIALS, f"the XMPP password of person {person_ext!r} is not known to "
                                  "the chat service (the account existed before); set one with PUT "
                                  f"/v1/businesses/{business_ext}/people/{person_ext} and a 'password'",
                                  field="person")
            await session.execute(delete(WebLoginTicket).where(WebLoginTicket.expires_at < now - dt.timedelta(days=1)))
            await session.execute(delete(WebSession).where(WebSession.expires_at < now))
            expires_at = now + self.link_lifetime
            session.add(WebLoginTicket(token_sha256=_digest(token), business_id=business.id, person_id=person.id,
                                       expires_at=expires_at))
            await session.commit()
        log.info("Web login link issued for person %s of business %s", person_ext, business_ext)
        return {"url": f"{self.public_url}/web/login?ticket={token}", "expires_at": expires_at.isoformat()}

    async def redeem(self, token: str) -> Redeemed:
        """Use a link once: a new browser session, or why not."""
        now = utcnow()
        async with self.database.session() as session:
            ticket = (await session.scalars(select(WebLoginTicket).where(
                WebLoginTicket.token_sha256 == _digest(token)))).first() if token else None
            state = link_state(ticket is not None, ticket and ticket.expires_at, ticket and ticket.used_at, now)
            if ticket is None or state is not LinkState.VALID:
                return Redeemed(state)
            # Two tabs opening the same link at once: only one update finds it unused.
            used = await session.execute(update(WebLoginTicket).where(
                WebLoginTicket.id == ticket.id, WebLoginTicket.used_at.is_(None)).values(used_at=now))
            if used.rowcount != 1:  # type: ignore[attr-defined]
                return Redeemed(LinkState.USED)
            if await MembershipRepository(session).get(ticket.business_id, ticket.person_id) is None:
                await session.commit()
                return Redeemed(LinkState.VALID, still_member=False)
            cookie = secrets.token_urlsafe(TOKEN_BYTES)
            expires_at = now + self.session_lifetime
            session.add(WebSession(token_sha256=_digest(cookie), business_id=ticket.business_id,
                                   person_id=ticket.person_id, expires_at=expires_at))
            await session.commit()
        return Redeemed(LinkState.VALID, cookie, expires_at)

    async def user_of(self, cookie: str | None) -> tuple[WebUser | None, bool]:
        """(the session's person, still a member): (None, True) when there is no valid session at all."""
        if not cookie:
            return None, True
        now = utcnow()
        async with self.database.session() as session:
            row = (await session.scalars(select(WebSession).where(
                WebSession.token_sha256 == _digest(cookie)))).first()
            if row is None or not session_valid(row.expires_at, now, True):
                return None, True
            membership = await MembershipRepository(session).get(row.business_id, row.person_id)
            if not session_valid(row.expires_at, now, membership is not None):
                return None, False
            assert membership is not None
            person = await session.get(Person, row.person_id)
            business = await session.get(Business, row.business_id)
            assert person is not None and business is not None
            return self._user(business, person, membership), True

    async def credentials(self, user: WebUser) -> dict[str, str]:
        async with self.database.session() as session:
            password = await self.vault.password_of(session, user.person_id)
        if password is None:
            raise DomainError(NO_WEB_CREDENTIALS, "your chat account's password is not known to the chat service; "
                              "ask the business to set it up again")
        log.info("XMPP credentials handed to the web page of %s (business %s)", user.jid, user.business_ext)
        return {"jid": user.jid, "password": password}

    @staticmethod
    def _user(business: Business, person: Person, membership: Membership) -> WebUser:
        return WebUser(person.id, person.external_id, person.jid, person.display_name,
                       membership.role, business.id, business.external_id, business.name)

    async def _member(self, session: AsyncSession, business_ext: str, person_ext: str
                      ) -> tuple[Business, Person, Membership]:
        business = await BusinessRepository(session).get_by_external_id(business_ext)
        if business is None:
            raise DomainError(NOT_FOUND, f"no business {business_ext!r}")
        person = await PersonRepository(session).get_by_external_id(person_ext)
        membership = person and await MembershipRepository(session).get(business.id, person.id)
        if person is None or not membership:
            raise DomainError(NOT_FOUND, f"no person {person_ext!r} in business {business_ext!r}", field="person")
        return business, person, membership
