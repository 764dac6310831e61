"""The match saga's steps against the database: record answers, ask again, compensate."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

import kindred.failpoints as failpoints
from kindred.db import Database, UnitOfWork
from subgraphs.queuing import events, saga
from subgraphs.queuing.models import Match, MatchParticipant, QueueEntry

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


async def _locked(session: AsyncSession, match_id: uuid.UUID) -> Match | None:
    statement = select(Match).where(col(Match.id) == match_id).with_for_update()
    return (await session.exec(statement)).first()


async def conversation_opened(
    uow: UnitOfWork, *, match_id: uuid.UUID, conversation_id: uuid.UUID
) -> None:
    """Records the match's conversation (a late or repeated answer changes nothing)."""
    match = await _locked(uow.session, match_id)
    if match is None:
        log.warning("saga: conversation for unknown match %s", match_id)
        return
    now = _now()
    if saga.record_conversation(match, conversation_id, now=now):
        saga.complete(match, now=now)
        uow.session.add(match)
    failpoints.reach("saga.conversation_recorded")


async def member_notified(uow: UnitOfWork, *, match_id: uuid.UUID, user_id: str) -> None:
    """Records that a participant was told of the match."""
    match = await _locked(uow.session, match_id)
    if match is None:
        log.warning("saga: notification for unknown match %s", match_id)
        return
    now = _now()
    if saga.record_notified(match, user_id, now=now):
        saga.complete(match, now=now)
        uow.session.add(match)
    failpoints.reach("saga.notified_recorded")


def _missing_steps(match: Match) -> str:
    missing = [] if match.conversation_id else ["a conversation"]
    silent = {str(member) for member in match.user_ids} - set(match.notified_user_ids)
    if silent:
        missing.append(f"notifications for {len(silent)} member(s)")
    return " and ".join(missing) or "nothing"


async def compensate(uow: UnitOfWork, match: Match, *, reason: str) -> bool:
    """Cancels a PENDING match: both members back in the queue at their old place, and
    `queue.match.cancelled` so the conversation and notifications are undone."""
    now = _now()
    if not saga.cancel(match, reason=reason, now=now):
        return False
    uow.session.add(match)
    participants = (
        await uow.session.exec(
            update(MatchParticipant)
            .where(col(MatchParticipant.match_id) == match.id)
            .values(open=False)
            .returning(col(MatchParticipant.user_id), col(MatchParticipant.queued_since))
        )
    ).all()
    for user_id, queued_since in participants:
        await uow.session.exec(
            insert(QueueEntry)
            .values(user_id=user_id, joined_at=queued_since)
            .on_conflict_do_nothing()
        )
    uow.publish(events.match_cancelled(match))
    failpoints.reach("saga.compensated")
    return True


async def run_overdue(db: Database, policy: saga.RetryPolicy, *, limit: int = 100) -> int:
    """Asks again for late steps, or compensates matches out of attempts; returns how many.

    Rows are locked with SKIP LOCKED, so replicas share the work and never do it twice.
    """
    async with db.unit_of_work() as uow:
        now = _now()
        due = (
            await uow.session.exec(
                select(Match)
                .where(
                    col(Match.status) == saga.MatchStatus.PENDING,
                    col(Match.next_attempt_at) <= now,
                )
                .order_by(col(Match.next_attempt_at))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for match in due:
            decision = saga.overdue(match, now=now, policy=policy)
            if decision is saga.Overdue.ASK_AGAIN:
                log.info(
                    "saga: match %s still waits for %s; asking again",
                    match.id,
                    _missing_steps(match),
                )
                saga.ask_again(match, now=now, policy=policy)
                uow.session.add(match)
                uow.publish(events.match_created(match))
            elif decision is saga.Overdue.GIVE_UP:
                reason = f"no answer in time for {_missing_steps(match)}"
                log.warning("saga: cancelling match %s: %s", match.id, reason)
                await compensate(uow, match, reason=reason)
        await uow.commit()
        return len(due)
