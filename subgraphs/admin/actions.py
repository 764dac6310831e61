"""Staff actions on what other subgraphs own: each calls the owner and appends one row to
the audit log, whatever the owner answered.

One action per (staff member, idempotency key): the attempt holds a transaction-scoped
advisory lock on the key while it calls the owner, so a double click waits and then
answers what the first click recorded, without calling the owner again. The owner gets a
request key derived from it as well (moderation and subscription keep it), so even an
attempt whose audit row was lost with its process (a crash between the owner's answer and
the commit) does not act twice when retried.

The owner is called with an action token, not the staff member's own: minted for this
attempt with the staff signing key, it names the staff member, only the scope the action
needs, the id the attempt's audit row will have and the owner's mutation it is for (the
owners' audited mutations refuse any staff token without them, or for another mutation),
and lives a minute.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred.credentials import TokenIssuer
from kindred.errors import BadUserInput, ErrorCode, Forbidden, KindredError, Unavailable
from kindred.platform import Platform
from kindred.staff import Scope
from subgraphs.admin import service
from subgraphs.admin.models import AuditEntry, StaffAccount
from subgraphs.admin.service import AuditAction, Outcome, TargetType

Read = Callable[[], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class Act:
    """The owner's audited mutation an action is done with: its name (the one mutation the
    action token may be used on) and the call, given the `Authorization` header to send."""

    mutation: str
    call: Callable[[str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class StaffAction:
    """One staff action: what, on what, with which arguments, the scope it needs at its
    owner, and how to do it."""

    action: AuditAction
    target_type: TargetType
    target_id: str
    request: dict[str, Any]
    idempotency_key: str
    scope: Scope
    before: Read
    act: Act


class ActionRefused(KindredError):
    """What the owner answered to an action (also when a retry replays it)."""

    def __init__(self, entry: AuditEntry | Any) -> None:
        super().__init__(entry.error_message or "The action was refused.", auditId=str(entry.id))
        code = entry.error_code or ""
        self.code = (
            ErrorCode(code) if code in ErrorCode.__members__.values() else ErrorCode.INTERNAL
        )


def request_key(staff_id: uuid.UUID, idempotency_key: str) -> str:
    """The key the owner dedupes by: this staff member's key, never another's."""
    return f"{staff_id}:{idempotency_key}"


def _trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


async def perform(
    platform: Platform, *, issuer: TokenIssuer, staff_id: uuid.UUID, action: StaffAction
) -> AuditEntry:
    """Does `action` once per idempotency key, with an action token `issuer` mints for its
    audit entry, and returns the entry; raises the owner's refusal (`ActionRefused`, with
    its code) after recording it."""
    key = service.check_idempotency_key(action.idempotency_key)
    async with platform.db.session() as session, session.begin():
        await service.lock_idempotency_key(session, staff_id=staff_id, key=key)
        staff = await _acting_staff(session, staff_id)
        recorded = await service.recorded_action(session, staff_id=staff_id, key=key)
        if recorded is not None:
            return _replay(recorded, action)
        try:
            before = await action.before()
        except KindredError:
            before = None  # the action decides; a missing snapshot does not stop it
        after: dict[str, Any] | None = None
        failure: KindredError | None = None
        entry_id = uuid.uuid4()
        token = issuer.action_token(
            staff_id, scopes=[action.scope], audit_id=entry_id, mutation=action.act.mutation
        )
        try:
            after = await action.act.call(f"Bearer {token}")
            outcome = Outcome.SUCCEEDED
        except Unavailable as error:
            outcome, failure = Outcome.FAILED, error
        except KindredError as error:
            outcome, failure = Outcome.REFUSED, error
        entry = await service.record(
            session,
            staff_id=staff_id,
            staff_email=staff.email,
            action=action.action,
            target_type=action.target_type,
            target_id=action.target_id,
            request=action.request,
            idempotency_key=key,
            before=before,
            after=after,
            outcome=outcome,
            error_code=failure.code.value if failure else None,
            error_message=failure.message if failure else None,
            trace_id=_trace_id(),
            entry_id=entry_id,
        )
    if failure is not None:
        raise failure if outcome == Outcome.FAILED else ActionRefused(entry)
    return entry


async def _acting_staff(session: AsyncSession, staff_id: uuid.UUID) -> StaffAccount:
    """The caller's staff account; `FORBIDDEN` if it is gone or disabled (its access token
    may outlive it by a few minutes, its actions may not)."""
    staff = await session.get(StaffAccount, staff_id)
    if staff is None or staff.disabled_at is not None:
        raise Forbidden("This staff account is disabled.", reason="DISABLED")
    return staff


Change = Callable[[AsyncSession], Awaitable[StaffAccount]]


async def manage(
    platform: Platform,
    *,
    staff_id: uuid.UUID,
    action: AuditAction,
    target_id: uuid.UUID | None,
    request: dict[str, Any],
    change: Change,
) -> StaffAccount:
    """Changes a staff account and appends the action to the audit log in one transaction;
    a refused change (its error raised) is recorded in a transaction of its own."""
    before: dict[str, Any] | None = None
    try:
        async with platform.db.session() as session, session.begin():
            staff = await _acting_staff(session, staff_id)
            if target_id is not None:
                before = _snapshot(await service.get_staff(session, target_id))
            changed = await change(session)
            await service.record(
                session,
                staff_id=staff_id,
                staff_email=staff.email,
                action=action,
                target_type=TargetType.STAFF,
                target_id=str(changed.id),
                request=request,
                before=before,
                after=_snapshot(changed),
                outcome=Outcome.SUCCEEDED,
                trace_id=_trace_id(),
            )
        return changed
    except KindredError as error:
        if error.code == ErrorCode.UNAVAILABLE or (
            isinstance(error, Forbidden) and (error.details.get("reason") == "DISABLED")
        ):
            raise
        async with platform.db.session() as session, session.begin():
            staff = await _acting_staff(session, staff_id)
            await service.record(
                session,
                staff_id=staff_id,
                staff_email=staff.email,
                action=action,
                target_type=TargetType.STAFF,
                target_id=str(target_id) if target_id else str(request.get("email", "")),
                request=request,
                before=before,
                outcome=Outcome.REFUSED,
                error_code=error.code.value,
                error_message=error.message,
                trace_id=_trace_id(),
            )
        raise


def _snapshot(staff: StaffAccount) -> dict[str, Any]:
    return {
        "id": str(staff.id),
        "email": staff.email,
        "displayName": staff.display_name,
        "role": staff.role,
        "disabled": staff.disabled_at is not None,
        "version": staff.version,
    }


def _replay(recorded: AuditEntry, action: StaffAction) -> AuditEntry:
    if recorded.action != action.action.value or recorded.request != action.request:
        raise BadUserInput(
            "This idempotency key was used for another action; use a new key per action.",
            field="idempotencyKey",
        )
    if recorded.outcome == Outcome.REFUSED.value:
        raise ActionRefused(recorded)
    return recorded
