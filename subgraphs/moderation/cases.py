"""The rules of cases, actions, standings and appeals. Pure domain logic.

A case starts OPEN; a moderator may take it IN_REVIEW, and closes it with an action:
WARN, SUSPEND or BAN make it ACTIONED, DISMISS makes it DISMISSED. A closed case takes
no other move: each transition checks the state it comes from and refuses an impossible
one with `CONFLICT` (the case moved on, say under another moderator), while values that
can never be right (a suspension without an end, a ban with one) are `BAD_USER_INPUT`.

A member's standing follows the newest SUSPEND or BAN (the moderator's latest word
decides, even if it shortens an earlier one); it ends by itself when `until` passes, and
an appeal that overturns the action in force ends it at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from kindred.errors import BadUserInput, Conflict

MAX_SUSPENSION = timedelta(days=365)
MAX_REASON_LENGTH = 1000


class CaseStatus(StrEnum):
    OPEN = "OPEN"
    IN_REVIEW = "IN_REVIEW"
    ACTIONED = "ACTIONED"
    DISMISSED = "DISMISSED"


OPEN_STATUSES = frozenset({CaseStatus.OPEN, CaseStatus.IN_REVIEW})


class ActionKind(StrEnum):
    WARN = "WARN"
    SUSPEND = "SUSPEND"
    BAN = "BAN"
    DISMISS = "DISMISS"


# The actions taken on a member (DISMISS is taken on a case: it clears the member).
MEMBER_ACTIONS = frozenset({ActionKind.WARN, ActionKind.SUSPEND, ActionKind.BAN})
RESTRICTING = frozenset({ActionKind.SUSPEND, ActionKind.BAN})


class StandingStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    BANNED = "BANNED"


class AppealStatus(StrEnum):
    PENDING = "PENDING"
    UPHELD = "UPHELD"
    OVERTURNED = "OVERTURNED"


class CaseRow(Protocol):
    status: str
    version: int
    updated_at: datetime
    closed_at: datetime | None


class StandingRow(Protocol):
    status: str
    until: datetime | None
    reason: str | None
    action_id: uuid.UUID | None
    case_id: uuid.UUID | None
    version: int
    updated_at: datetime


class AppealRow(Protocol):
    status: str
    decided_at: datetime | None
    decided_by: uuid.UUID | None


def _touch(case: CaseRow, now: datetime) -> None:
    case.version += 1
    case.updated_at = now


def start_review(case: CaseRow, *, now: datetime) -> None:
    """OPEN → IN_REVIEW; `CONFLICT` from any other state."""
    if case.status != CaseStatus.OPEN:
        raise Conflict(f"The case is {case.status}; only an OPEN case can be taken into review.")
    case.status = CaseStatus.IN_REVIEW
    _touch(case, now)


def close(case: CaseRow, kind: ActionKind, *, now: datetime) -> None:
    """OPEN or IN_REVIEW → ACTIONED (WARN, SUSPEND, BAN) or DISMISSED; `CONFLICT` once closed."""
    if case.status not in OPEN_STATUSES:
        raise Conflict(f"The case is already {case.status}; it takes no further action.")
    case.status = CaseStatus.DISMISSED if kind == ActionKind.DISMISS else CaseStatus.ACTIONED
    case.closed_at = now
    _touch(case, now)


def check_action(kind: ActionKind, *, until: datetime | None, reason: str, now: datetime) -> None:
    """`BAD_USER_INPUT` unless the reason is given and `until` fits the action: a SUSPEND
    ends in the future (within a year), the other actions have no end."""
    if not reason.strip() or len(reason) > MAX_REASON_LENGTH:
        raise BadUserInput(f"Give a reason of 1 to {MAX_REASON_LENGTH} characters.", field="reason")
    if kind == ActionKind.SUSPEND:
        if until is None:
            raise BadUserInput("A suspension needs `until`, its end.", field="until")
        if until.tzinfo is None:
            raise BadUserInput("`until` needs a time zone offset.", field="until")
        if until <= now:
            raise BadUserInput("`until` must be in the future.", field="until")
        if until - now > MAX_SUSPENSION:
            raise BadUserInput(
                "A suspension lasts at most 365 days; use BAN for longer.", field="until"
            )
    elif until is not None:
        raise BadUserInput(f"`until` is only for SUSPEND, not {kind}.", field="until")


def restrict(
    standing: StandingRow,
    kind: ActionKind,
    *,
    until: datetime | None,
    reason: str,
    action_id: uuid.UUID,
    case_id: uuid.UUID,
    now: datetime,
) -> None:
    """The member is suspended until `until` (SUSPEND) or banned (BAN), from now on."""
    assert kind in RESTRICTING
    standing.status = StandingStatus.BANNED if kind == ActionKind.BAN else StandingStatus.SUSPENDED
    standing.until = None if kind == ActionKind.BAN else until
    standing.reason = reason
    standing.action_id = action_id
    standing.case_id = case_id
    standing.version += 1
    standing.updated_at = now


def status_at(standing: StandingRow | None, now: datetime) -> StandingStatus:
    """Where the member stands at `now`: a suspension whose end has passed is over."""
    if standing is None:
        return StandingStatus.ACTIVE
    if standing.status == StandingStatus.BANNED:
        return StandingStatus.BANNED
    if standing.status == StandingStatus.SUSPENDED and (
        standing.until is None or standing.until > now
    ):
        return StandingStatus.SUSPENDED
    return StandingStatus.ACTIVE


def reinstate(standing: StandingRow, *, now: datetime) -> bool:
    """Ends a suspension or ban now; False (no change) if the member is not restricted.

    A suspension whose end passed still counts until this records it, so its
    `user.reinstated` goes out exactly once."""
    if standing.status == StandingStatus.ACTIVE:
        return False
    standing.status = StandingStatus.ACTIVE
    standing.until = now if standing.until is None or standing.until > now else standing.until
    standing.version += 1
    standing.updated_at = now
    return True


def decide_appeal(
    appeal: AppealRow, outcome: AppealStatus, *, moderator_id: uuid.UUID, now: datetime
) -> None:
    """PENDING → UPHELD or OVERTURNED; `CONFLICT` once decided."""
    if outcome == AppealStatus.PENDING:
        raise BadUserInput("Decide UPHELD or OVERTURNED.", field="outcome")
    if appeal.status != AppealStatus.PENDING:
        raise Conflict(f"The appeal was already decided ({appeal.status}).")
    appeal.status = outcome
    appeal.decided_at = now
    appeal.decided_by = moderator_id
