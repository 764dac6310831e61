"""The match saga as a state machine on the match row. Pure domain logic.

A match starts PENDING and the saga asks for two things through events: a
conversation (communication answers `conversation.created`) and a notification for
each member (notification answers `notification.created`). Every answer is
recorded; when all are in, the match is ACTIVE. A step that gets no answer is asked
again with backoff; after the last attempt the match is CANCELLED (the compensation:
`queue.match.cancelled`, both members back in the queue). Each transition checks the
state it may come from, so a replayed or late answer is a no-op by construction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol


class MatchStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"
    ENDED = "ENDED"


OPEN_STATUSES = frozenset({MatchStatus.PENDING, MatchStatus.ACTIVE})


class SagaRow(Protocol):
    """What the saga reads and writes on a match (the `Match` table has these columns)."""

    user_ids: list[uuid.UUID]
    status: str
    conversation_id: uuid.UUID | None
    notified_user_ids: list[str]
    attempts: int
    next_attempt_at: datetime
    cancel_reason: str | None
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class RetryPolicy:
    """How long a step may stay unanswered, and how often it is asked for."""

    step_timeout_seconds: float
    max_attempts: int

    def wait_after(self, attempt: int) -> timedelta:
        """The time to wait for an answer after the `attempt`-th request (doubling)."""
        return timedelta(seconds=self.step_timeout_seconds * 2 ** (attempt - 1))


class Overdue(StrEnum):
    """What to do with a PENDING match whose answers are late."""

    ASK_AGAIN = "ASK_AGAIN"
    GIVE_UP = "GIVE_UP"


def _touch(match: SagaRow, now: datetime) -> None:
    match.version += 1
    match.updated_at = now


def record_conversation(match: SagaRow, conversation_id: uuid.UUID, *, now: datetime) -> bool:
    """Notes the match's conversation; False (no change) unless PENDING and not yet noted."""
    if match.status != MatchStatus.PENDING or match.conversation_id is not None:
        return False
    match.conversation_id = conversation_id
    _touch(match, now)
    return True


def record_notified(match: SagaRow, user_id: str, *, now: datetime) -> bool:
    """Notes that a participant was notified; False unless PENDING, new and a participant."""
    participants = {str(member) for member in match.user_ids}
    if (
        match.status != MatchStatus.PENDING
        or user_id not in participants
        or user_id in match.notified_user_ids
    ):
        return False
    match.notified_user_ids = [*match.notified_user_ids, user_id]
    _touch(match, now)
    return True


def is_complete(match: SagaRow) -> bool:
    """Every step answered: the conversation exists and every participant was notified."""
    participants = {str(member) for member in match.user_ids}
    return match.conversation_id is not None and participants <= set(match.notified_user_ids)


def complete(match: SagaRow, *, now: datetime) -> bool:
    """PENDING → ACTIVE once every step answered; False otherwise."""
    if match.status != MatchStatus.PENDING or not is_complete(match):
        return False
    match.status = MatchStatus.ACTIVE
    _touch(match, now)
    return True


def overdue(match: SagaRow, *, now: datetime, policy: RetryPolicy) -> Overdue | None:
    """Whether a PENDING match's steps are late, and if so whether to ask again or give up."""
    if match.status != MatchStatus.PENDING or match.next_attempt_at > now:
        return None
    return Overdue.ASK_AGAIN if match.attempts < policy.max_attempts else Overdue.GIVE_UP


def ask_again(match: SagaRow, *, now: datetime, policy: RetryPolicy) -> bool:
    """Counts one more request for the outstanding steps and schedules the next check."""
    if overdue(match, now=now, policy=policy) is not Overdue.ASK_AGAIN:
        return False
    match.attempts += 1
    match.next_attempt_at = now + policy.wait_after(match.attempts)
    _touch(match, now)
    return True


def cancel(match: SagaRow, *, reason: str, now: datetime) -> bool:
    """PENDING → CANCELLED (the compensation); False from any other state."""
    if match.status != MatchStatus.PENDING:
        return False
    match.status = MatchStatus.CANCELLED
    match.cancel_reason = reason
    _touch(match, now)
    return True


def end(match: SagaRow, *, now: datetime) -> bool:
    """ACTIVE → ENDED (a member moved on); False from any other state."""
    if match.status != MatchStatus.ACTIVE:
        return False
    match.status = MatchStatus.ENDED
    _touch(match, now)
    return True
