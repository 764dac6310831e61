"""The match saga's state machine: every transition checks where it may come from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from subgraphs.queuing import saga
from subgraphs.queuing.saga import MatchStatus, Overdue, RetryPolicy

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(step_timeout_seconds=10, max_attempts=3)


@dataclass
class Row:
    user_ids: list[uuid.UUID] = field(default_factory=lambda: [uuid.uuid4(), uuid.uuid4()])
    status: str = MatchStatus.PENDING
    conversation_id: uuid.UUID | None = None
    notified_user_ids: list[str] = field(default_factory=list)
    attempts: int = 1
    next_attempt_at: datetime = NOW + timedelta(seconds=10)
    cancel_reason: str | None = None
    version: int = 1
    updated_at: datetime = NOW


def _answer_everything(match: Row) -> None:
    saga.record_conversation(match, uuid.uuid4(), now=NOW)
    for member in match.user_ids:
        saga.record_notified(match, str(member), now=NOW)


def test_a_match_becomes_active_only_when_every_step_answered() -> None:
    match = Row()
    assert saga.record_conversation(match, uuid.uuid4(), now=NOW)
    assert not saga.complete(match, now=NOW)
    saga.record_notified(match, str(match.user_ids[0]), now=NOW)
    assert not saga.complete(match, now=NOW)
    saga.record_notified(match, str(match.user_ids[1]), now=NOW)
    assert saga.complete(match, now=NOW)
    assert match.status == MatchStatus.ACTIVE


def test_answers_may_come_in_any_order() -> None:
    match = Row()
    for member in reversed(match.user_ids):
        saga.record_notified(match, str(member), now=NOW)
    saga.record_conversation(match, uuid.uuid4(), now=NOW)
    assert saga.complete(match, now=NOW)


def test_a_repeated_answer_changes_nothing() -> None:
    match = Row()
    first = uuid.uuid4()
    assert saga.record_conversation(match, first, now=NOW)
    version = match.version
    assert not saga.record_conversation(match, uuid.uuid4(), now=NOW)
    assert match.conversation_id == first and match.version == version
    member = str(match.user_ids[0])
    assert saga.record_notified(match, member, now=NOW)
    assert not saga.record_notified(match, member, now=NOW)
    assert match.notified_user_ids == [member]


def test_a_notification_for_someone_else_is_not_an_answer() -> None:
    match = Row()
    assert not saga.record_notified(match, str(uuid.uuid4()), now=NOW)
    assert match.notified_user_ids == []


def test_late_answers_after_cancelling_change_nothing() -> None:
    match = Row()
    assert saga.cancel(match, reason="no answer", now=NOW)
    assert not saga.record_conversation(match, uuid.uuid4(), now=NOW)
    assert not saga.record_notified(match, str(match.user_ids[0]), now=NOW)
    assert not saga.complete(match, now=NOW)
    assert match.status == MatchStatus.CANCELLED and match.conversation_id is None


def test_an_active_match_cannot_be_cancelled_and_a_cancelled_one_cannot_end() -> None:
    active = Row()
    _answer_everything(active)
    saga.complete(active, now=NOW)
    assert not saga.cancel(active, reason="late", now=NOW)
    assert active.status == MatchStatus.ACTIVE
    cancelled = Row()
    saga.cancel(cancelled, reason="no answer", now=NOW)
    assert not saga.end(cancelled, now=NOW)
    assert saga.end(active, now=NOW) and active.status == MatchStatus.ENDED


def test_a_step_not_yet_due_is_left_alone() -> None:
    assert saga.overdue(Row(), now=NOW, policy=POLICY) is None


def test_late_steps_are_asked_again_with_doubling_waits_then_given_up() -> None:
    match = Row(next_attempt_at=NOW)
    assert saga.overdue(match, now=NOW, policy=POLICY) is Overdue.ASK_AGAIN
    assert saga.ask_again(match, now=NOW, policy=POLICY)
    assert match.attempts == 2 and match.next_attempt_at == NOW + timedelta(seconds=20)
    later = match.next_attempt_at
    assert saga.ask_again(match, now=later, policy=POLICY)
    assert match.attempts == 3 and match.next_attempt_at == later + timedelta(seconds=40)
    assert saga.overdue(match, now=match.next_attempt_at, policy=POLICY) is Overdue.GIVE_UP
    assert not saga.ask_again(match, now=match.next_attempt_at, policy=POLICY)


def test_a_finished_match_is_never_overdue() -> None:
    match = Row(next_attempt_at=NOW - timedelta(hours=1))
    _answer_everything(match)
    saga.complete(match, now=NOW)
    assert saga.overdue(match, now=NOW, policy=POLICY) is None
