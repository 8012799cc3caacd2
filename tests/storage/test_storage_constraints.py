"""The database itself refuses bad data: uniqueness, CHECKs, foreign keys, tenant scope, cascades."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from dotimely_chat.storage import (
    Appointment,
    AppointmentRepository,
    BusinessRepository,
    Database,
    Membership,
    MembershipRepository,
    PersonRepository,
)

from ..support.tenants import Tenant

STARTS_AT = dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC)


async def _book(
    appointments: AppointmentRepository, tenant: Tenant, external_id: str = "apt-1", duration: int = 30
) -> Appointment:
    return await appointments.upsert(
        tenant.business_id,
        external_id,
        customer_id=tenant.customer_id,
        staff_id=tenant.staff_id,
        starts_at=STARTS_AT,
        duration_minutes=duration,
        service_name="Massage",
    )


async def _count(db: Database, model: type[Membership | Appointment], business_id: int) -> int:
    async with db.session() as session:
        query = select(func.count()).select_from(model).where(model.business_id == business_id)
        return (await session.scalar(query)) or 0


async def test_duplicate_business_external_id_is_rejected(db: Database) -> None:
    async with db.session() as session:
        businesses = BusinessRepository(session)
        await businesses.add("ext-1", "Salon")
        with pytest.raises(IntegrityError):
            await businesses.add("ext-1", "Another salon")


async def test_duplicate_person_jid_is_rejected(db: Database) -> None:
    async with db.session() as session:
        people = PersonRepository(session)
        await people.add("ext-1", "ana@chat.test", "Ana")
        with pytest.raises(IntegrityError):
            await people.add("ext-2", "ana@chat.test", "Ana again")


async def test_duplicate_person_external_id_is_rejected(db: Database) -> None:
    async with db.session() as session:
        people = PersonRepository(session)
        await people.add("ext-1", "ana@chat.test", "Ana")
        with pytest.raises(IntegrityError):
            await people.add("ext-1", "ben@chat.test", "Ben")


async def test_a_person_has_one_membership_per_business(db: Database, tenant: Tenant) -> None:
    async with db.session() as session:
        with pytest.raises(IntegrityError):
            await MembershipRepository(session).add(tenant.business_id, tenant.staff_id, "owner")


async def test_unknown_role_is_rejected(db: Database, tenant: Tenant) -> None:
    async with db.session() as session:
        person = await PersonRepository(session).add("ext-x", "x@chat.test", "X")
        with pytest.raises(IntegrityError):
            await MembershipRepository(session).add(tenant.business_id, person.id, "admin")  # type: ignore[arg-type]


async def test_unknown_appointment_status_is_rejected(db: Database, tenant: Tenant) -> None:
    async with db.session() as session:
        appointments = AppointmentRepository(session)
        await _book(appointments, tenant)
        with pytest.raises(IntegrityError):
            await appointments.set_status(tenant.business_id, "apt-1", "deleted")  # type: ignore[arg-type]


@pytest.mark.parametrize("duration", [0, -15])
async def test_appointment_duration_must_be_positive(db: Database, tenant: Tenant, duration: int) -> None:
    async with db.session() as session:
        with pytest.raises(IntegrityError):
            await _book(AppointmentRepository(session), tenant, duration=duration)


async def test_membership_of_an_unknown_person_is_rejected(db: Database, tenant: Tenant) -> None:
    async with db.session() as session:
        with pytest.raises(IntegrityError):
            await MembershipRepository(session).add(tenant.business_id, 999_999, "customer")


async def test_an_appointment_of_one_business_is_invisible_to_another(
    db: Database, tenant: Tenant, make_tenant: Callable[[str], Awaitable[Tenant]]
) -> None:
    other = await make_tenant("b")
    async with db.session() as session:
        await _book(AppointmentRepository(session), tenant)
        await session.commit()

    async with db.session() as session:
        appointments = AppointmentRepository(session)
        assert await appointments.get(other.business_id, "apt-1") is None
        assert await appointments.list_for_business(other.business_id) == []
        assert await appointments.set_status(other.business_id, "apt-1", "cancelled") is None
        await session.commit()

    async with db.session() as session:
        mine = await AppointmentRepository(session).get(tenant.business_id, "apt-1")
        assert mine is not None and mine.status == "booked"


async def test_the_same_external_id_in_two_businesses_is_two_appointments(
    db: Database, tenant: Tenant, make_tenant: Callable[[str], Awaitable[Tenant]]
) -> None:
    other = await make_tenant("b")
    async with db.session() as session:
        appointments = AppointmentRepository(session)
        mine = await _book(appointments, tenant, duration=30)
        theirs = await _book(appointments, other, duration=90)
        await session.commit()

    assert mine.id != theirs.id
    async with db.session() as session:
        loaded = await AppointmentRepository(session).get(tenant.business_id, "apt-1")
        assert loaded is not None and loaded.duration_minutes == 30


async def test_deleting_a_business_removes_its_memberships_and_appointments(
    db: Database, tenant: Tenant, make_tenant: Callable[[str], Awaitable[Tenant]]
) -> None:
    other = await make_tenant("b")
    async with db.session() as session:
        await _book(AppointmentRepository(session), tenant)
        await _book(AppointmentRepository(session), other)
        await session.commit()

    async with db.session() as session:
        assert await BusinessRepository(session).delete(tenant.business_id) is True
        assert await BusinessRepository(session).delete(tenant.business_id) is False
        await session.commit()

    assert await _count(db, Membership, tenant.business_id) == 0
    assert await _count(db, Appointment, tenant.business_id) == 0
    assert await _count(db, Membership, other.business_id) == 3
    assert await _count(db, Appointment, other.business_id) == 1
    async with db.session() as session:
        assert await PersonRepository(session).get(tenant.customer_id) is not None


async def test_deleting_a_loaded_business_through_the_session_cascades_too(
    db: Database, tenant: Tenant
) -> None:
    async with db.session() as session:
        await _book(AppointmentRepository(session), tenant)
        await session.commit()

    async with db.session() as session:
        business = await BusinessRepository(session).get(tenant.business_id)
        await session.delete(business)
        await session.commit()

    assert await _count(db, Membership, tenant.business_id) == 0
    assert await _count(db, Appointment, tenant.business_id) == 0


async def test_a_person_with_appointments_cannot_be_deleted(db: Database, tenant: Tenant) -> None:
    async with db.session() as session:
        await _book(AppointmentRepository(session), tenant)
        await session.commit()

    async with db.session() as session:
        customer = await PersonRepository(session).get(tenant.customer_id)
        await session.delete(customer)
        with pytest.raises(IntegrityError):
            await session.flush()
