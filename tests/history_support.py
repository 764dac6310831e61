"""Events the history subgraph reads, made by the producers' own `events.py` functions (so a
change of a payload there shows here), and a helper to put them on the broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from kindred.events import Event
from kindred.kafka import EventProducer
from subgraphs.communication import events as communication
from subgraphs.communication.models import Conversation
from subgraphs.interaction import events as interaction
from subgraphs.interaction.models import Connection, Relation
from subgraphs.moderation import events as moderation
from subgraphs.moderation.models import Action, Appeal, Case, Standing
from subgraphs.queuing import events as queuing
from subgraphs.queuing.models import Match
from subgraphs.subscription import events as subscription
from subgraphs.subscription.models import MemberSubscription
from subgraphs.subscription.plans import Plan
from subgraphs.subscription.plans import Standing as PlanStanding


def _now() -> datetime:
    return datetime.now(UTC)


def match_created(
    a: uuid.UUID, b: uuid.UUID, *, at: datetime | None = None, match_id: uuid.UUID | None = None
) -> Event:
    """`queue.match.created`; the same `match_id` again is the saga asking twice."""
    match = Match(
        id=match_id or uuid.uuid4(),
        user_ids=[a, b],
        score=0.8,
        distance_km=3.0,
        created_at=at or _now(),
    )
    return queuing.match_created(match)


def match_cancelled(a: uuid.UUID, b: uuid.UUID, match_id: uuid.UUID) -> Event:
    match = Match(
        id=match_id,
        user_ids=[a, b],
        score=0.8,
        distance_km=3.0,
        status="CANCELLED",
        cancel_reason="conversation step unanswered",
        version=3,
        created_at=_now(),
    )
    return queuing.match_cancelled(match)


def conversation_created(
    a: uuid.UUID,
    b: uuid.UUID,
    *,
    match_id: uuid.UUID | None = None,
    connection_id: uuid.UUID | None = None,
) -> Event:
    conversation = Conversation(
        id=uuid.uuid4(),
        match_id=match_id,
        connection_id=connection_id,
        participant_ids=[a, b],
        created_at=_now(),
    )
    return communication.conversation_created(conversation)


def connected(
    a: uuid.UUID,
    b: uuid.UUID,
    *,
    match_id: uuid.UUID | None = None,
    version: int = 1,
    connection_id: uuid.UUID | None = None,
) -> Event:
    user_a, user_b = sorted([a, b])
    connection = Connection(
        id=connection_id or uuid.uuid4(),
        user_a=user_a,
        user_b=user_b,
        match_id=match_id,
        version=version,
        connected_at=_now(),
    )
    return interaction.connected(connection)


def reaction(
    actor: uuid.UUID,
    target: uuid.UUID,
    kind: str,
    *,
    version: int,
    match_id: uuid.UUID | None = None,
    rating: int | None = None,
    at: datetime | None = None,
) -> Event:
    """`interaction.recorded` of the actor's `kind` (LIKE, PASS, BLOCK, UNBLOCK, RATE)."""
    now = at or _now()
    relation = Relation(
        actor_id=actor,
        target_id=target,
        version=version,
        blocked=kind == "BLOCK",
        pass_until=now + timedelta(days=30) if kind == "PASS" else None,
        match_id=match_id,
        updated_at=now,
    )
    return interaction.interaction_recorded(
        relation, kind=kind, occurred_at=now, match_id=match_id, rating=rating
    )


def action_taken(member: uuid.UUID, kind: str, *, until: datetime | None = None) -> Event:
    case = Case(id=uuid.uuid4(), user_id=member, status="ACTIONED", version=3)
    action = Action(
        id=uuid.uuid4(),
        case_id=case.id,
        user_id=member,
        kind=kind,
        until=until,
        reason="Insults in chat",
        moderator_id=uuid.uuid4(),
        created_at=_now(),
    )
    return moderation.action_taken(action, case)


def suspended(
    member: uuid.UUID, *, until: datetime | None, version: int, action_id: uuid.UUID | None = None
) -> Event:
    standing = Standing(
        user_id=member,
        status="SUSPENDED" if until else "BANNED",
        until=until,
        reason="Insults in chat",
        action_id=action_id or uuid.uuid4(),
        case_id=uuid.uuid4(),
        version=version,
        updated_at=_now(),
    )
    return moderation.user_suspended(standing)


def reinstated(member: uuid.UUID, *, version: int, action_id: uuid.UUID | None = None) -> Event:
    standing = Standing(
        user_id=member, status="ACTIVE", action_id=action_id, version=version, updated_at=_now()
    )
    return moderation.user_reinstated(standing)


def appeal_decided(member: uuid.UUID, action_id: uuid.UUID, outcome: str) -> Event:
    appeal = Appeal(
        id=uuid.uuid4(),
        action_id=action_id,
        user_id=member,
        text="It was a joke.",
        status=outcome,
        created_at=_now(),
    )
    return moderation.appeal_decided(appeal)


def subscription_changed(member: uuid.UUID, *, version: int, premium: bool = True) -> Event:
    until = _now() + timedelta(days=30)
    row = MemberSubscription(
        user_id=member, status="active" if premium else "canceled", version=version
    )
    standing = (
        PlanStanding(Plan.PREMIUM, ("SEE_WHO_LIKED_YOU", "WIDER_DISTANCE"), until)
        if premium
        else PlanStanding.free()
    )
    return subscription.subscription_changed(row, standing, provider_event_id="evt_test")


async def put_events(bootstrap: str, events: Iterable[Event]) -> None:
    """Publishes `events` as the outbox relay would (keyed by aggregate, in order)."""
    producer = EventProducer(bootstrap)
    await producer.start()
    try:
        for event in events:
            await (
                await producer.send(event.topic, key=event.key, value=event.to_json(), headers=[])
            )
    finally:
        await producer.stop()
