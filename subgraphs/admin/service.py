"""What the admin subgraph does: staff accounts, their sessions, and the audit log."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred import credentials, sessions
from kindred.db import Database
from kindred.errors import BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated
from kindred.pagination import older_than
from kindred.staff import Role
from subgraphs.admin.models import AuditEntry, StaffAccount, StaffRefreshToken

MAX_EMAIL = 254
MIN_PASSWORD = 12  # staff hold the keys to every member's account: longer than members'
MAX_PASSWORD = 128
MAX_DISPLAY_NAME = 80
MAX_IDEMPOTENCY_KEY = 100
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _now() -> datetime:
    return datetime.now(UTC)


# -- rules ----------------------------------------------------------------------------------


def check_email(value: str) -> str:
    """The email normalised (trimmed, lower case), or `BAD_USER_INPUT`."""
    normalized = value.strip().lower()
    if len(normalized) > MAX_EMAIL or not _EMAIL.match(normalized):
        raise BadUserInput("Enter a valid email address.", field="email")
    return normalized


def check_password(value: str) -> str:
    if not MIN_PASSWORD <= len(value) <= MAX_PASSWORD:
        raise BadUserInput(
            f"A staff password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters.",
            field="password",
        )
    return value


def check_display_name(value: str) -> str:
    normalized = value.strip()
    if not 1 <= len(normalized) <= MAX_DISPLAY_NAME:
        raise BadUserInput(
            f"The name must have 1 to {MAX_DISPLAY_NAME} characters.", field="displayName"
        )
    return normalized


def check_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        roles = ", ".join(role.value for role in Role)
        raise BadUserInput(f"The role must be one of: {roles}.", field="role") from None


def check_idempotency_key(value: str) -> str:
    if not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY or not value.isprintable():
        raise BadUserInput(
            f"The idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters "
            "(a UUID per click is fine).",
            field="idempotencyKey",
        )
    return value


# -- staff accounts -------------------------------------------------------------------------


async def create_staff(
    session: AsyncSession, *, email: str, password: str, display_name: str, role: str
) -> StaffAccount:
    """A new staff account at version 1; `CONFLICT` if the email is taken."""
    now = _now()
    staff = StaffAccount(
        email=check_email(email),
        display_name=check_display_name(display_name),
        role=check_role(role).value,
        # Hashing takes tens of milliseconds of CPU: off the event loop.
        password_hash=await asyncio.to_thread(credentials.hash_password, check_password(password)),
        created_at=now,
        updated_at=now,
    )
    session.add(staff)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("A staff account with this email already exists.", field="email") from None
    return staff


async def seed_admin(database: Database, *, email: str, password: str) -> bool:
    """Creates the admin `email` unless a staff account has that email; True if it did."""
    async with database.session() as session, session.begin():
        taken = (
            await session.exec(select(StaffAccount.id).where(StaffAccount.email == email.lower()))
        ).first()
        if taken is not None:
            return False
        await create_staff(
            session, email=email, password=password, display_name="Admin", role=Role.ADMIN.value
        )
    return True


async def get_staff(
    session: AsyncSession, staff_id: uuid.UUID, *, lock: bool = False
) -> StaffAccount:
    """The staff account, or `NOT_FOUND`."""
    staff = await session.get(StaffAccount, staff_id, with_for_update=lock)
    if staff is None:
        raise NotFound("No such staff account.", field="staffId")
    return staff


async def staff_by_id(connection: AsyncConnection, ids: Sequence[uuid.UUID]) -> list[Any | None]:
    """Staff accounts by id, in order (None where unknown), in one query."""
    rows = await connection.execute(select(StaffAccount).where(col(StaffAccount.id).in_(ids)))
    found = {row.id: row for row in rows}
    return [found.get(id_) for id_ in ids]


async def staff_list(connection: AsyncConnection, *, first: int, after: str | None) -> list[Any]:
    """Staff accounts, newest first, one page (and one more row to tell if more follow)."""
    statement = select(StaffAccount)
    condition = older_than(
        col(StaffAccount.created_at), col(StaffAccount.id), after, id_type=uuid.UUID
    )
    if condition is not None:
        statement = statement.where(condition)
    statement = statement.order_by(
        col(StaffAccount.created_at).desc(), col(StaffAccount.id).desc()
    ).limit(first + 1)
    return list(await connection.execute(statement))


def _check_version(staff: StaffAccount, expected_version: int | None) -> None:
    if expected_version is not None and staff.version != expected_version:
        raise Conflict(
            f"The staff account changed meanwhile (version {staff.version}); read it again.",
            field="expectedVersion",
        )


async def change_role(
    session: AsyncSession,
    *,
    staff_id: uuid.UUID,
    role: str,
    expected_version: int | None,
    actor_id: uuid.UUID,
) -> StaffAccount:
    """Gives the account `role` (its sessions end: new tokens carry the new scopes). An
    admin cannot change their own role (the last admin would lock everyone out)."""
    new_role = check_role(role)
    staff = await get_staff(session, staff_id, lock=True)
    if staff.id == actor_id:
        raise Forbidden("Staff cannot change their own role; ask another admin.")
    _check_version(staff, expected_version)
    if staff.role == new_role.value:
        return staff
    staff.role = new_role.value
    staff.version += 1
    staff.updated_at = _now()
    session.add(staff)
    await SESSIONS.revoke_all(session, staff.id)
    return staff


async def disable_staff(
    session: AsyncSession, *, staff_id: uuid.UUID, expected_version: int | None, actor_id: uuid.UUID
) -> StaffAccount:
    """Disables the account and ends its sessions; disabling again changes nothing."""
    staff = await get_staff(session, staff_id, lock=True)
    if staff.id == actor_id:
        raise Forbidden("Staff cannot disable their own account; ask another admin.")
    _check_version(staff, expected_version)
    if staff.disabled_at is not None:
        return staff
    staff.disabled_at = _now()
    staff.version += 1
    staff.updated_at = staff.disabled_at
    session.add(staff)
    await SESSIONS.revoke_all(session, staff.id)
    return staff


# -- sign-in --------------------------------------------------------------------------------


def _refuse_if_disabled(staff: StaffAccount) -> None:
    if staff.disabled_at is not None:
        raise Forbidden("This staff account is disabled.", reason="DISABLED")


async def authenticate(session: AsyncSession, *, email: str, password: str) -> StaffAccount:
    """The staff account with these credentials, or `UNAUTHENTICATED`; a disabled account
    with the right password is `FORBIDDEN` (`extensions.reason` DISABLED)."""
    staff = (
        await session.exec(select(StaffAccount).where(StaffAccount.email == email.strip().lower()))
    ).first()
    stored = staff.password_hash if staff else None
    if not await asyncio.to_thread(credentials.verify_password, stored, password):
        raise Unauthenticated("The email or the password is wrong.")
    assert staff is not None
    _refuse_if_disabled(staff)
    return staff


SESSIONS = sessions.RefreshTokens(StaffRefreshToken, owner="staff_id", limit_key="staff")
"""Staff refresh tokens (`staff_refresh_tokens.staff_id`)."""


async def enabled_staff(session: AsyncSession, staff_id: uuid.UUID) -> StaffAccount:
    """The staff account, unless disabled (`FORBIDDEN`): the check before a session is
    refreshed."""
    staff = await get_staff(session, staff_id)
    _refuse_if_disabled(staff)
    return staff


# -- the audit log --------------------------------------------------------------------------


class Outcome(StrEnum):
    """How a staff action ended."""

    SUCCEEDED = "SUCCEEDED"  # done (by the owner, or here for staff accounts)
    REFUSED = "REFUSED"  # the owner said no (its error code is recorded); nothing changed
    FAILED = "FAILED"  # the owner could not be reached or failed; may be tried again


class AuditAction(StrEnum):
    """What a staff member did (the audit log's `action`)."""

    REVIEW_CASE = "REVIEW_CASE"
    ACT_ON_CASE = "ACT_ON_CASE"
    DECIDE_APPEAL = "DECIDE_APPEAL"
    SUSPEND_MEMBER = "SUSPEND_MEMBER"
    REFUND_SUBSCRIPTION = "REFUND_SUBSCRIPTION"
    CREATE_STAFF = "CREATE_STAFF"
    CHANGE_STAFF_ROLE = "CHANGE_STAFF_ROLE"
    DISABLE_STAFF = "DISABLE_STAFF"


class TargetType(StrEnum):
    """What an action was done to."""

    CASE = "CASE"
    APPEAL = "APPEAL"
    MEMBER = "MEMBER"
    STAFF = "STAFF"


async def lock_idempotency_key(session: AsyncSession, *, staff_id: uuid.UUID, key: str) -> None:
    """Serialises attempts with the same key until the transaction ends: a double click
    waits for the first attempt's row instead of acting twice."""
    await session.exec(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"{staff_id}:{key}", 0)))
    )


async def recorded_action(
    session: AsyncSession, *, staff_id: uuid.UUID, key: str
) -> AuditEntry | None:
    """The settled (not FAILED) action this staff member recorded with `key`, if any."""
    statement = select(AuditEntry).where(
        col(AuditEntry.staff_id) == staff_id,
        col(AuditEntry.idempotency_key) == key,
        col(AuditEntry.outcome) != Outcome.FAILED.value,
    )
    return (await session.exec(statement)).first()


async def record(
    session: AsyncSession,
    *,
    staff_id: uuid.UUID,
    staff_email: str,
    action: AuditAction,
    target_type: TargetType,
    target_id: str,
    request: dict[str, Any],
    outcome: Outcome,
    idempotency_key: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    trace_id: str | None = None,
    entry_id: uuid.UUID | None = None,
) -> AuditEntry:
    """Appends one row to the audit log (in the caller's transaction); `entry_id` when the
    owner was already told it (in the action token)."""
    entry = AuditEntry(
        id=entry_id or uuid.uuid4(),
        staff_id=staff_id,
        staff_email=staff_email,
        action=action.value,
        target_type=target_type.value,
        target_id=target_id,
        idempotency_key=idempotency_key,
        request=request,
        before=before,
        after=after,
        outcome=outcome.value,
        error_code=error_code,
        error_message=error_message,
        trace_id=trace_id,
        created_at=_now(),
    )
    await session.exec(insert(AuditEntry).values(**entry.model_dump()))
    return entry


async def audit_page(
    connection: AsyncConnection,
    *,
    first: int,
    after: str | None,
    staff_id: uuid.UUID | None = None,
    target_id: str | None = None,
) -> list[Any]:
    """Audit entries newest first, optionally of one staff member or one target."""
    statement = select(AuditEntry)
    if staff_id is not None:
        statement = statement.where(col(AuditEntry.staff_id) == staff_id)
    if target_id is not None:
        statement = statement.where(col(AuditEntry.target_id) == target_id)
    condition = older_than(col(AuditEntry.created_at), col(AuditEntry.id), after, id_type=uuid.UUID)
    if condition is not None:
        statement = statement.where(condition)
    statement = statement.order_by(
        col(AuditEntry.created_at).desc(), col(AuditEntry.id).desc()
    ).limit(first + 1)
    return list(await connection.execute(statement))
