"""The demo business that `dotimely-chat up` creates: an owner, two staff members, three customers,
two appointments, each person with an XMPP account whose password is kept in <state>/demo-accounts.json.

It goes through the same directory use case as the HTTP API (accounts, directory rows, rosters). Running
it again repairs rather than duplicates: rows are found by their external ids, a missing account is made
again with its kept password, and an existing account keeps its password (connected clients stay).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..policies.roles import Role
from ..storage import AppointmentRepository, BusinessRepository, Database, PersonRepository
from .directory import DirectoryService
from .directory.person_input import PersonInput

log = logging.getLogger(__name__)

DEMO_BUSINESS_ID = "demo-salon"
DEMO_BUSINESS_NAME = "Demo Salon"


@dataclass(frozen=True)
class DemoPerson:
    external_id: str
    localpart: str
    display_name: str
    role: Role


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("demo-owner", "olivia", "Olivia Owner", "owner"),
    DemoPerson("demo-staff-1", "sam", "Sam Stylist", "staff"),
    DemoPerson("demo-staff-2", "stella", "Stella Stylist", "staff"),
    DemoPerson("demo-customer-1", "carl", "Carl Customer", "customer"),
    DemoPerson("demo-customer-2", "cora", "Cora Customer", "customer"),
    DemoPerson("demo-customer-3", "chris", "Chris Customer", "customer"),
)
# (external id, customer, staff, days from today, hour, minutes, service)
DEMO_APPOINTMENTS = (
    ("demo-appt-1", "demo-customer-1", "demo-staff-1", 1, 10, 45, "Haircut"),
    ("demo-appt-2", "demo-customer-2", "demo-staff-2", 2, 15, 90, "Colour"),
)


@dataclass(frozen=True)
class DemoAccount:
    jid: str
    password: str
    display_name: str
    role: str


def _load_passwords(path: Path) -> dict[str, str]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _save_passwords(path: Path, passwords: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(passwords, handle, indent=2)


async def _in_directory(database: Database, external_id: str) -> bool:
    async with database.session() as session:
        return await PersonRepository(session).get_by_external_id(external_id) is not None


async def ensure_demo_business(directory: DirectoryService, database: Database, domain: str,
                               state_directory: Path) -> list[DemoAccount]:
    """Create or repair the demo business; returns its accounts with their passwords.

    A password is generated once and kept; an account that exists keeps it. Setting it again at every
    start would throw out the connected clients: Prosody 0.12 closes every other session of an account
    whose password changes (mod_c2s, "user-password-changed").
    """
    password_file = state_directory / "demo-accounts.json"
    passwords = _load_passwords(password_file)
    kept = set(passwords)
    for person in DEMO_PEOPLE:
        passwords.setdefault(f"{person.localpart}@{domain}", secrets.token_urlsafe(9))
    _save_passwords(password_file, passwords)

    await directory.businesses.put(DEMO_BUSINESS_ID, {"name": DEMO_BUSINESS_NAME})
    for person in DEMO_PEOPLE:
        jid = f"{person.localpart}@{domain}"
        password: str | None = passwords[jid]
        remade = False
        if jid in kept and await _in_directory(database, person.external_id):
            # Made by an earlier run with this password: only a missing account is made again.
            remade = await directory.accounts.create_account(jid, passwords[jid])
            if remade:
                log.warning("Demo account %s was missing at the server; made it again", jid)
            password = None
        elif jid not in kept:
            log.info("Demo account %s gets a new password (none kept in %s)", jid, password_file)
        await directory.people.put(DEMO_BUSINESS_ID, person.external_id, PersonInput(
            role=person.role, display_name=person.display_name, jid=jid, password=password))
        if remade:  # a new account has no name yet (a server whose data went, a new cluster): publish it
            await directory.effects.person_named(jid, person.display_name)

    async with database.session() as session:
        business = await BusinessRepository(session).get_by_external_id(DEMO_BUSINESS_ID)
        assert business is not None
        people, appointments = PersonRepository(session), AppointmentRepository(session)
        today = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        for external_id, customer, staff, days, hour, minutes, service in DEMO_APPOINTMENTS:
            if await appointments.get(business.id, external_id) is None:
                customer_row = await people.get_by_external_id(customer)
                staff_row = await people.get_by_external_id(staff)
                assert customer_row is not None and staff_row is not None
                await appointments.upsert(
                    business.id, external_id, customer_id=customer_row.id, staff_id=staff_row.id,
                    starts_at=(today + dt.timedelta(days=days)).replace(hour=hour),
                    duration_minutes=minutes, service_name=service)
        await session.commit()
    log.info("Demo business %r ready with %d people", DEMO_BUSINESS_ID, len(DEMO_PEOPLE))
    return [DemoAccount(f"{p.localpart}@{domain}", passwords[f"{p.localpart}@{domain}"], p.display_name, p.role)
            for p in DEMO_PEOPLE]
