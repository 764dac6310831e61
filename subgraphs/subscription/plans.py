"""Plans and the entitlements they grant, declared once, and when entitlements are in force.

Entitlements are computed against the clock whenever they are read: a paid period that
ends, or one voided by a refund, ends them by itself, with no job to forget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# The names other subgraphs act on (WIDER_DISTANCE: matching uses the member's own maximum
# distance; SEE_WHO_LIKED_YOU: interaction shows who liked them), declared in the platform.
from kindred.member_state import Entitlement


class Plan(StrEnum):
    FREE = "FREE"
    PREMIUM = "PREMIUM"


PLAN_ENTITLEMENTS: dict[Plan, frozenset[Entitlement]] = {
    Plan.FREE: frozenset(),
    Plan.PREMIUM: frozenset({Entitlement.WIDER_DISTANCE, Entitlement.SEE_WHO_LIKED_YOU}),
}


class SubscriptionStatus(StrEnum):
    """The provider's status of the member's subscription (Stripe's names), or NONE."""

    NONE = "none"
    ACTIVE = "active"
    TRIALING = "trialing"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    PAUSED = "paused"


# Statuses in which a paid period grants the plan's entitlements (past_due: the provider
# is still retrying the payment, and the period already paid for still runs).
ENTITLED_STATUSES = frozenset(
    {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE}
)


@dataclass(frozen=True)
class Standing:
    """What a member has now: the plan in effect, its entitlements and when they end."""

    plan: Plan
    entitlements: tuple[str, ...]
    entitled_until: datetime | None

    @classmethod
    def free(cls) -> Standing:
        return cls(Plan.FREE, (), None)


def standing(
    *,
    plan: str,
    status: str,
    current_period_end: datetime | None,
    refunded_period_end: datetime | None,
    now: datetime,
) -> Standing:
    """The member's standing at `now`: the paid plan while its period runs, in an entitled
    status, and not voided by a refund (a refund voids the period it paid for)."""
    if (
        plan == Plan.FREE
        or status not in ENTITLED_STATUSES
        or current_period_end is None
        or current_period_end <= now
        or (refunded_period_end is not None and current_period_end <= refunded_period_end)
    ):
        return Standing.free()
    names = tuple(sorted(PLAN_ENTITLEMENTS[Plan(plan)]))
    return Standing(Plan(plan), names, current_period_end)
