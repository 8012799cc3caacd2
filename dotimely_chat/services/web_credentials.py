"""The web page logs in with the person's XMPP password, which Prosody keeps hashed: we keep a copy sealed
(Fernet: AES-128-CBC + HMAC-SHA256) under a key in <state>/web-credentials.key, so the database alone
opens no account. A copy is written whenever the directory generates or sets a password.

Trade-off (README): Prosody 0.12 has one password per account, so the page receives the same long-lived
password as the person's phone app. A short-lived token would need a Prosody auth module of our own.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.ext.asyncio import AsyncSession

from ..storage.models.web import XmppCredential
from ..storage.types import utcnow

log = logging.getLogger(__name__)


def load_or_create_key(path: Path) -> bytes:
    """The sealing key: made once (mode 0600), then reused, so a restart keeps every sealed password."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    log.info("Generated the web credentials key %s", path)
    return key


class CredentialVault:
    """Seal, store and open XMPP passwords of people. Methods take the caller's session and never commit."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def in_state(cls, state_directory: Path) -> CredentialVault:
        return cls(load_or_create_key(state_directory / "web-credentials.key"))

    async def remember(self, session: AsyncSession, person_id: int, password: str) -> None:
        sealed = self._fernet.encrypt(password.encode()).decode()
        row = await session.get(XmppCredential, person_id)
        if row is None:
            session.add(XmppCredential(person_id=person_id, sealed_password=sealed))
        else:
            row.sealed_password, row.updated_at = sealed, utcnow()

    async def password_of(self, session: AsyncSession, person_id: int) -> str | None:
        """The password, or None when it was never known here or the key changed (then it is unusable)."""
        row = await session.get(XmppCredential, person_id)
        if row is None:
            return None
        try:
            return self._fernet.decrypt(row.sealed_password.encode()).decode()
        except InvalidToken:
            log.warning("The sealed XMPP password of person %d does not open with the current key", person_id)
            return None
