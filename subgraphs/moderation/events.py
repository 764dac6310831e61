"""The events the moderation subgraph publishes (what it handles is in `handlers.py`)."""

from __future__ import annotations

from kindred.events import Event
from kindred.topics import Topic
from subgraphs.moderation.models import Action, Appeal, Case, Report, Standing


def _iso(value: object) -> str | None:
    return value.isoformat() if value is not None else None  # type: ignore[attr-defined]


def action_taken(action: Action, case: Case) -> Event:
    """A moderator closed a case with an action (WARN, SUSPEND, BAN or DISMISS)."""
    return Event(
        topic=Topic.MODERATION_ACTION_TAKEN,
        aggregate_id=str(case.id),
        aggregate_version=case.version,
        payload={
            "action_id": str(action.id),
            "case_id": str(case.id),
            "user_id": str(action.user_id),
            "action": action.kind,
            "until": _iso(action.until),
            "reason": action.reason,
        },
    )


def user_suspended(standing: Standing) -> Event:
    """The member may not join the queue, send or (banned) sign in until `until`."""
    return Event(
        topic=Topic.USER_SUSPENDED,
        aggregate_id=str(standing.user_id),
        aggregate_version=standing.version,
        payload={
            "user_id": str(standing.user_id),
            "until": _iso(standing.until),
            "reason": standing.reason,
            "action_id": str(standing.action_id) if standing.action_id else None,
            "case_id": str(standing.case_id) if standing.case_id else None,
        },
    )


def user_reinstated(standing: Standing) -> Event:
    """The member's suspension or ban is over (its time passed, or an appeal overturned it)."""
    return Event(
        topic=Topic.USER_REINSTATED,
        aggregate_id=str(standing.user_id),
        aggregate_version=standing.version,
        payload={
            "user_id": str(standing.user_id),
            "action_id": str(standing.action_id) if standing.action_id else None,
        },
    )


def appeal_decided(appeal: Appeal) -> Event:
    """A moderator decided the member's appeal of an action: UPHELD or OVERTURNED."""
    return Event(
        topic=Topic.MODERATION_APPEAL_DECIDED,
        aggregate_id=str(appeal.action_id),
        aggregate_version=1,
        payload={
            "appeal_id": str(appeal.id),
            "action_id": str(appeal.action_id),
            "user_id": str(appeal.user_id),
            "outcome": appeal.status,
        },
    )


def report_filed(report: Report) -> Event:
    """A member reported another (analytics counts it). Who reported whom stays in
    moderation: the payload names only the report, its reason and when."""
    return Event(
        topic=Topic.MODERATION_REPORT_FILED,
        aggregate_id=str(report.id),
        aggregate_version=1,
        payload={
            "report_id": str(report.id),
            "case_id": str(report.case_id),
            "reason": report.reason,
            "created_at": report.created_at.isoformat(),
        },
    )
