"""Repository round trips: what goes in comes back, in a fresh session, with relations loaded."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.exc import StatementError

from dotimely_chat.storage import (
    Appointment,
    AppointmentRepository,
    BusinessRepository,
    Database,
    MembershipRepository,
    PersonRepository,
)

from ..support.tenants import Tenant

UTC_PLUS_2 = dt.timezone(dt.timedelta(hours=2))
STARTS_AT = dt.datetime(2025, 3, 30, 9, 15, 30, 123456, tzinfo=UTC_PLUS_2)


async def _book(db: Database, tenant: Tenant, external_id: str = "apt-1", **changes: Any) -> Appointment:
    """Upsert and commit an appointment of `tenant`; keyword arguments override the defaults."""
    fields: dict[str, Any] = {
        "customer_id": tenant.customer_id,
        "staff_id": tenant.staff_id,
        "starts_at": STARTS_AT,
        "duration_minutes": 45,
        "service_name": "Haircut",
    }
    fields.update(changes)
    async with db.session() as session:
        appointment = await AppointmentRepository(session).upsert(tenant.business_id, external_id, **fields)
        await session.commit()
    return appointment


async def test_business_round_trip(db: Database) -> None:
    before = dt.datetime.now(dt.UTC)
    async with db.session() as session:
        business = await BusinessRepository(session).add("ext-b1", "Salon Aurora")
        await session.commit()

    async with db.session() as session:
        businesses = BusinessRepository(session)
        loaded = await businesses.get(business.id)
        assert loaded is not None
        assert (loaded.external_id, loaded.name) == ("ext-b1", "Salon Aurora")
        assert loaded.created_at.tzinfo == dt.UTC
        assert before - dt.timedelta(seconds=5) <= loaded.created_at <= dt.datetime.now(dt.UTC)
        assert await businesses.get_by_external_id("ext-b1") == loaded
        assert await businesses.list() == [loaded]
        assert await businesses.get(business.id + 1000) is None
        assert await businesses.get_by_external_id("nope") is None


async def test_person_round_trip(db: Database) -> None:
    async with db.session() as session:
        people = PersonRepository(session)
        full = await people.add("ext-p1", "ana@chat.test", "Ana", email="ana@example.test", phone="+3531234")
        bare = await people.add("ext-p2", "ben@chat.test", "Ben")
        await session.commit()

    async with db.session() as session:
        people = PersonRepository(session)
        loaded = await people.get(full.id)
        assert loaded is not None
        assert (loaded.external_id, loaded.jid, loaded.display_name, loaded.email, loaded.phone) == (
            "ext-p1",
            "ana@chat.test",
            "Ana",
            "ana@example.test",
            "+3531234",
        )
        assert loaded.created_at.tzinfo == dt.UTC
        assert await people.get_by_jid("ana@chat.test") == loaded
        assert await people.get_by_external_id("ext-p1") == loaded
        ben = await people.get_by_jid("ben@chat.test")
        assert ben is not None and ben.id == bare.id and (ben.email, ben.phone) == (None, None)
        assert await people.get_by_jid("chat.test") is None


async def test_memberships_come_back_with_their_person_loaded(db: Database, tenant: Tenant) -> None:
    async with db.session() as session:  # a fresh session: nothing is in the identity map
        memberships = await MembershipRepository(session).list_for_business(tenant.business_id)
        assert [(m.role, m.person.display_name) for m in memberships] == [
            ("owner", "owner of a"),
            ("staff", "staff of a"),
            ("customer", "customer of a"),
        ]
        assert all(m.created_at.tzinfo == dt.UTC for m in memberships)


async def test_memberships_can_be_listed_by_role(db: Database, tenant: Tenant) -> None:
    async with db.session() as session:
        staff = await MembershipRepository(session).list_for_business(tenant.business_id, role="staff")
        assert [m.person_id for m in staff] == [tenant.staff_id]


async def test_a_person_in_two_businesses_has_a_role_in_each(
    db: Database, tenant: Tenant, make_tenant: Callable[[str], Awaitable[Tenant]]
) -> None:
    other = await make_tenant("b")
    async with db.session() as session:
        await MembershipRepository(session).add(other.business_id, tenant.staff_id, "customer")
        await session.commit()

    async with db.session() as session:
        memberships = MembershipRepository(session)
        found = await memberships.businesses_of_person(tenant.staff_id)
        assert [(m.business.name, m.role) for m in found] == [("Salon a", "staff"), ("Salon b", "customer")]
        one = await memberships.get(other.business_id, tenant.staff_id)
        assert one is not None and one.role == "customer"
        assert await memberships.get(other.business_id, tenant.owner_id) is None


async def test_removing_a_membership_leaves_the_person(db: Database, tenant: Tenant) -> None:
    async with db.session() as session:
        memberships = MembershipRepository(session)
        assert await memberships.remove(tenant.business_id, tenant.customer_id) is True
        assert await memberships.remove(tenant.business_id, tenant.customer_id) is False
        await session.commit()

    async with db.session() as session:
        assert await MembershipRepository(session).get(tenant.business_id, tenant.customer_id) is None
        assert await PersonRepository(session).get(tenant.customer_id) is not None


async def test_appointment_round_trip_keeps_an_aware_start_time(db: Database, tenant: Tenant) -> None:
    booked = await _book(db, tenant)

    async with db.session() as session:
        loaded = await AppointmentRepository(session).get(tenant.business_id, "apt-1")
        assert loaded is not None and loaded.id == booked.id
        assert loaded.starts_at == STARTS_AT
        assert loaded.starts_at.tzinfo == dt.UTC
        assert loaded.starts_at.hour == 7  # 09:15 at +02:00
        assert loaded.ends_at == STARTS_AT + dt.timedelta(minutes=45)
        assert (loaded.duration_minutes, loaded.service_name, loaded.status) == (45, "Haircut", "booked")
        assert (loaded.customer.jid, loaded.staff.jid) == ("customer.a@chat.test", "staff.a@chat.test")
        assert loaded.created_at.tzinfo == dt.UTC and loaded.updated_at.tzinfo == dt.UTC


async def test_upsert_updates_the_existing_appointment(db: Database, tenant: Tenant) -> None:
    first = await _book(db, tenant)
    moved = STARTS_AT + dt.timedelta(days=1)

    second = await _book(
        db, tenant, starts_at=moved, duration_minutes=60, service_name="Colour", staff_id=tenant.owner_id
    )

    assert second.id == first.id
    async with db.session() as session:
        appointments = await AppointmentRepository(session).list_for_business(tenant.business_id)
        assert len(appointments) == 1
        (loaded,) = appointments
        assert (loaded.starts_at, loaded.duration_minutes, loaded.service_name) == (moved, 60, "Colour")
        assert loaded.staff.jid == "owner.a@chat.test"
        assert loaded.created_at == first.created_at
        assert loaded.updated_at >= first.updated_at


async def test_upsert_refreshes_an_appointment_already_in_the_session(db: Database, tenant: Tenant) -> None:
    async with db.session() as session:
        appointments = AppointmentRepository(session)
        first = await appointments.upsert(
            tenant.business_id,
            "apt-1",
            customer_id=tenant.customer_id,
            staff_id=tenant.staff_id,
            starts_at=STARTS_AT,
            duration_minutes=30,
            service_name="Trim",
        )
        second = await appointments.upsert(
            tenant.business_id,
            "apt-1",
            customer_id=tenant.customer_id,
            staff_id=tenant.staff_id,
            starts_at=STARTS_AT,
            duration_minutes=90,
            service_name="Perm",
        )
        assert second is first
        assert (first.duration_minutes, first.service_name) == (90, "Perm")


async def test_appointments_are_listed_by_start_time(db: Database, tenant: Tenant) -> None:
    await _book(db, tenant, "late", starts_at=STARTS_AT + dt.timedelta(hours=3))
    await _book(db, tenant, "early", starts_at=STARTS_AT - dt.timedelta(hours=3))
    await _book(db, tenant, "noon", starts_at=STARTS_AT)

    async with db.session() as session:
        listed = await AppointmentRepository(session).list_for_business(tenant.business_id)
        assert [a.external_id for a in listed] == ["early", "noon", "late"]


async def test_a_cancelled_appointment_stays_cancelled_when_its_details_are_resent(
    db: Database, tenant: Tenant
) -> None:
    await _book(db, tenant)
    async with db.session() as session:
        cancelled = await AppointmentRepository(session).set_status(tenant.business_id, "apt-1", "cancelled")
        assert cancelled is not None and cancelled.status == "cancelled"
        await session.commit()

    await _book(db, tenant, service_name="Haircut and wash")

    async with db.session() as session:
        loaded = await AppointmentRepository(session).get(tenant.business_id, "apt-1")
        assert loaded is not None and (loaded.status, loaded.service_name) == (
            "cancelled",
            "Haircut and wash",
        )


async def test_naive_datetimes_are_refused(db: Database, tenant: Tenant) -> None:
    with pytest.raises(StatementError, match="naive"):
        await _book(db, tenant, starts_at=dt.datetime(2025, 3, 30, 9, 0))


async def test_concurrent_upserts_of_one_appointment_make_one_row(db: Database, tenant: Tenant) -> None:
    results = await asyncio.gather(*(_book(db, tenant, duration_minutes=30 + i) for i in range(8)))

    assert len({appointment.id for appointment in results}) == 1
    async with db.session() as session:
        assert len(await AppointmentRepository(session).list_for_business(tenant.business_id)) == 1
