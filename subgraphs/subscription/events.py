"""The events the subscription subgraph publishes (it handles none)."""

from __future__ import annotations

from kindred.events import Event
from kindred.topics import Topic
from subgraphs.subscription.models import MemberSubscription
from subgraphs.subscription.plans import Standing, SubscriptionStatus


def subscription_changed(
    row: MemberSubscription, standing: Standing, *, provider_event_id: str | None
) -> Event:
    """What a member has changed: other subgraphs keep the entitlements until
    `entitled_until` (matching widens the distance, interaction shows who liked them)."""
    return Event(
        topic=Topic.SUBSCRIPTION_CHANGED,
        aggregate_id=str(row.user_id),
        aggregate_version=row.version,
        payload={
            "user_id": str(row.user_id),
            "plan": standing.plan.value,
            "status": SubscriptionStatus(row.status).name,
            "entitlements": list(standing.entitlements),
            "entitled_until": (
                standing.entitled_until.isoformat() if standing.entitled_until else None
            ),
            "provider_event_id": provider_event_id,
        },
    )
