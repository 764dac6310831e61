"""The subscription subgraph's GraphQL schema: the plans, `User.subscription` and
`User.entitlements` (own only; staff with members:read see any member's), and the staff
refund (billing:refund)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from kindred.context import RequestContext
from kindred.graphql import build_schema, describe_values
from kindred.ids import parse_id
from kindred.shared_types import GONE_MEMBER, USER_DESCRIPTION
from kindred.staff import Scope, staff_mutation
from subgraphs.subscription import plans, service

Ctx = Info[RequestContext, None]

Plan = strawberry.enum(
    plans.Plan,
    description="A plan a member can be on: FREE (everyone) or PREMIUM (paid through the "
    "payment provider).",
)
describe_values(
    Plan,
    FREE="Everyone's plan, at no cost.",
    PREMIUM="The paid plan, through the payment provider.",
)


@strawberry.enum(
    description="Something a plan lets a member do: WIDER_DISTANCE (matching uses the "
    "member's own maximum distance instead of the free cap) or SEE_WHO_LIKED_YOU (the "
    "member sees who liked them)."
)
class Entitlement(StrEnum):
    # A copy of the platform's names (a test keeps them equal): the interaction subgraph
    # may describe kindred.member_state.Entitlement in its own schema.
    WIDER_DISTANCE = plans.Entitlement.WIDER_DISTANCE.value
    SEE_WHO_LIKED_YOU = plans.Entitlement.SEE_WHO_LIKED_YOU.value


describe_values(
    Entitlement,
    WIDER_DISTANCE="Matching uses the member's own maximum distance, not the free cap.",
    SEE_WHO_LIKED_YOU="The member sees who liked them.",
)


SubscriptionStatus = strawberry.enum(
    plans.SubscriptionStatus,
    description="The payment provider's status of the member's subscription: NONE (never "
    "subscribed), ACTIVE, TRIALING, PAST_DUE (a payment is being retried; the paid period "
    "still counts), CANCELED, UNPAID, INCOMPLETE, INCOMPLETE_EXPIRED or PAUSED.",
)
describe_values(
    SubscriptionStatus,
    NONE="The member never subscribed.",
    ACTIVE="Paid and in force.",
    TRIALING="In a free trial period.",
    PAST_DUE="A payment is being retried; the paid period still counts.",
    CANCELED="Ended by the member or the provider.",
    UNPAID="Payments failed for good; not in force.",
    INCOMPLETE="The first payment has not gone through yet.",
    INCOMPLETE_EXPIRED="The first payment never went through.",
    PAUSED="Paused by the provider; not in force.",
)


@strawberry.type(description="A plan and the entitlements it grants.")
class PlanDetails:
    plan: Plan = strawberry.field(description="The plan.")  # type: ignore[valid-type]
    entitlements: list[Entitlement] = strawberry.field(
        description="What the plan lets a member do while it is in force."
    )


@strawberry.type(description="A member's subscription, as the payment provider last told it.")
class MemberSubscription:
    plan: Plan = strawberry.field(  # type: ignore[valid-type]
        description="The plan in force now: PREMIUM while a paid period runs, else FREE."
    )
    status: SubscriptionStatus = strawberry.field(  # type: ignore[valid-type]
        description="The provider's status of the subscription."
    )
    entitlements: list[Entitlement] = strawberry.field(
        description="What the member may do now (the same as `User.entitlements`)."
    )
    current_period_end: datetime | None = strawberry.field(
        description="When the period paid for ends (null: never subscribed)."
    )
    entitled_until: datetime | None = strawberry.field(
        description="When the entitlements in force end by themselves, unless renewed "
        "(null when none are in force)."
    )
    cancel_at_period_end: bool = strawberry.field(
        description="True when the subscription will not renew at the end of the period."
    )
    version: int = strawberry.field(
        description="Counts the changes of the subscription (0: never subscribed)."
    )
    updated_at: datetime | None = strawberry.field(
        description="When it last changed (null: never subscribed)."
    )

    @classmethod
    def from_row(cls, row: Any, *, now: datetime) -> MemberSubscription:
        standing = service.standing_of(row, now=now)
        entitlements = [Entitlement(name) for name in standing.entitlements]
        if row is None:
            return cls(
                plan=plans.Plan.FREE,
                status=plans.SubscriptionStatus.NONE,
                entitlements=[],
                current_period_end=None,
                entitled_until=None,
                cancel_at_period_end=False,
                version=0,
                updated_at=None,
            )
        return cls(
            plan=standing.plan,
            status=plans.SubscriptionStatus(row.status),
            entitlements=entitlements,
            current_period_end=row.current_period_end,
            entitled_until=standing.entitled_until,
            cancel_at_period_end=row.cancel_at_period_end,
            version=row.version,
            updated_at=row.updated_at,
        )


async def _own_subscription_row(info: Ctx, user_id: strawberry.ID) -> Any:
    """The member's row if the caller is the member, or staff with members:read."""
    if info.context.require_identity().staff:
        info.context.require_scope(Scope.MEMBERS_READ, what="read a member's subscription")
        member = parse_id(user_id)
    else:
        member = info.context.require_self(user_id, what="subscription")
    db = info.context.platform.db

    async def load(ids: list[uuid.UUID]) -> list[Any]:
        async with db.read() as conn:
            return await service.subscriptions_by_user(conn, ids)

    return await info.context.loader("subscriptions", load).load(member)


@strawberry.federation.type(keys=["id"], description=USER_DESCRIPTION)
class User:
    id: strawberry.ID

    @strawberry.field(
        description="The member's subscription; own only (staff with members:read see any "
        "member's)."
    )
    async def subscription(self, info: Ctx) -> MemberSubscription:
        row = await _own_subscription_row(info, self.id)
        return MemberSubscription.from_row(row, now=datetime.now(UTC))

    @strawberry.field(
        description="What the member may do now beyond the free plan; own only (staff with "
        "members:read see any member's). They end by themselves when the paid period ends or "
        "a refund arrives."
    )
    async def entitlements(self, info: Ctx) -> list[Entitlement]:
        row = await _own_subscription_row(info, self.id)
        names = service.standing_of(row, now=datetime.now(UTC)).entitlements
        return [Entitlement(name) for name in names]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)


@strawberry.type
class Query:
    @strawberry.field(description="Every plan and what it grants.")
    def plans(self) -> list[PlanDetails]:
        return [
            PlanDetails(plan=plan, entitlements=[Entitlement(name) for name in sorted(granted)])
            for plan, granted in plans.PLAN_ENTITLEMENTS.items()
        ]


@strawberry.type(
    description="A refund staff recorded: the paid period it voided ended then. The money goes "
    "back through the payment provider's dashboard (no provider call is made from here)."
)
class StaffRefund:
    id: strawberry.ID = strawberry.field(description="Stable id of the refund.")
    user: User | None = strawberry.field(description=f"The member refunded{GONE_MEMBER}.")
    refunded_period_end: datetime = strawberry.field(
        description="The end of the paid period the refund voided."
    )
    created_at: datetime = strawberry.field(description="When it was recorded.")
    subscription: MemberSubscription = strawberry.field(
        description="The member's subscription after the refund."
    )


@strawberry.type
class Mutation:
    @staff_mutation(
        scopes=[Scope.BILLING_REFUND],
        audited_via="refundSubscription",
        description="Refunds a member's paid period: their Premium ends now, the refund is "
        "recorded and other subgraphs hear of it. CONFLICT when no paid period is in force. "
        "Once per `requestKey` (the same key answers the same refund); staff only.",
    )
    async def record_staff_refund(
        self,
        info: Ctx,
        user_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
        reason: Annotated[str, strawberry.argument(description="Why (1 to 1,000 characters).")],
        request_key: Annotated[
            str,
            strawberry.argument(description="Names this one request: a retry answers the same."),
        ],
    ) -> StaffRefund:
        member = parse_id(user_id, field="userId")
        now = datetime.now(UTC)
        async with info.context.platform.db.unit_of_work() as uow:
            refund, row = await service.refund_by_staff(
                uow,
                user_id=member,
                staff_id=uuid.UUID(info.context.require_identity().user_id),
                reason=reason,
                request_key=request_key,
                now=now,
            )
            await uow.commit()
        return StaffRefund(
            id=strawberry.ID(str(refund.id)),
            user=User(id=strawberry.ID(str(member))),
            refunded_period_end=refund.refunded_period_end,
            created_at=refund.created_at,
            subscription=MemberSubscription.from_row(row, now=now),
        )


schema = build_schema(query=Query, mutation=Mutation, types=[User])
