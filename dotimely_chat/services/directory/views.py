"""What the directory's use cases answer with (the API and the XMPP search turn these into JSON and forms)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...policies.roles import Role
from ...storage.models.directory import Membership, Person


@dataclass(frozen=True)
class PersonView:
    id: str
    jid: str
    display_name: str
    role: Role
    email: str | None
    phone: str | None

    @classmethod
    def of(cls, membership: Membership, person: Person) -> PersonView:
        return cls(person.external_id, person.jid, person.display_name, membership.role,
                   person.email, person.phone)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "jid": self.jid, "display_name": self.display_name, "role": self.role,
                "email": self.email, "phone": self.phone}


@dataclass(frozen=True)
class PutPersonResult:
    person: PersonView
    created: bool
    password: str | None  # only when we generated it
    roster_synced: bool


@dataclass(frozen=True)
class SearchHit:
    business_id: str
    business_name: str
    person: PersonView
