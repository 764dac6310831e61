"""The admin subgraph's GraphQL schema: staff sign-in, staff accounts, staff actions on what
other subgraphs own (each written to the audit log), and the audit log.

Everything but signing in is for staff only, each field by scope (kindred.staff): the
schema says so (`@authenticated @requiresScopes`) and the subgraph checks it itself.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kindred import sessions
from kindred.context import RequestContext
from kindred.errors import Forbidden
from kindred.graphql import build_schema, describe_values
from kindred.ids import parse_id
from kindred.pagination import After, Connection, First, connection, page_size
from kindred.staff import Scope, scopes_for, staff_field, staff_mutation
from subgraphs.admin import actions, owners, service
from subgraphs.admin.actions import StaffAction
from subgraphs.admin.service import AuditAction, TargetType

Ctx = Info[RequestContext, None]


@strawberry.enum(description="A staff member's role; each grants a set of scopes.")
class StaffRole(Enum):
    SUPPORT = "support"
    MODERATOR = "moderator"
    ADMIN = "admin"


describe_values(
    StaffRole,
    SUPPORT="Helps members: reads their accounts and cases, refunds subscriptions.",
    MODERATOR="Reads members and cases, acts on cases and suspends members.",
    ADMIN="Every scope, including managing staff and reading the audit log.",
)


@strawberry.enum(description="How a staff action ended.")
class AuditOutcome(Enum):
    SUCCEEDED = "SUCCEEDED"
    REFUSED = "REFUSED"
    FAILED = "FAILED"


describe_values(
    AuditOutcome,
    SUCCEEDED="Done: the owner (or the admin subgraph, for staff accounts) made the change.",
    REFUSED="The owner refused it (`errorCode` says why); nothing changed.",
    FAILED="The owner could not be reached; nothing changed, and it may be tried again.",
)


strawberry.enum(AuditAction, name="AuditAction", description="What a staff member did.")
describe_values(
    AuditAction,
    REVIEW_CASE="Took a moderation case into review (`reviewCase`).",
    ACT_ON_CASE="Decided a moderation case (`actOnCase`).",
    DECIDE_APPEAL="Decided a member's appeal of an action (`actOnAppeal`).",
    SUSPEND_MEMBER="Suspended a member (`suspendMember`).",
    REFUND_SUBSCRIPTION="Refunded a member's subscription (`refundSubscription`).",
    CREATE_STAFF="Created a staff account.",
    CHANGE_STAFF_ROLE="Changed a staff member's role.",
    DISABLE_STAFF="Disabled a staff account.",
)
strawberry.enum(TargetType, name="AuditTargetType", description="What a staff action was done to.")
describe_values(
    TargetType,
    CASE="A moderation case (`targetId` is its id).",
    APPEAL="A member's appeal of a moderation action (`targetId` is its id).",
    MEMBER="A member (`targetId` is their user id).",
    STAFF="A staff account (`targetId` is its id).",
)


@strawberry.enum(description="What a staff member decides on a moderation case.")
class CaseDecision(Enum):
    WARN = "WARN"
    SUSPEND = "SUSPEND"
    BAN = "BAN"
    DISMISS = "DISMISS"


describe_values(
    CaseDecision,
    WARN="The member is warned; nothing else changes.",
    SUSPEND="The member is suspended until `until`.",
    BAN="The member is banned indefinitely.",
    DISMISS="The case is closed with no action on the member.",
)


@strawberry.enum(description="What a staff member decides on a member's appeal.")
class AppealDecision(Enum):
    UPHELD = "UPHELD"
    OVERTURNED = "OVERTURNED"


describe_values(
    AppealDecision,
    UPHELD="The action stands.",
    OVERTURNED="The action is undone; a suspension or ban it put in force ends now.",
)


@strawberry.type(description="A staff account: who may sign in to operate Kindred, and as what.")
class StaffAccount:
    id: strawberry.ID = strawberry.field(description="Stable id of the staff account.")
    email: str = strawberry.field(description="The staff member's sign-in email.")
    display_name: str = strawberry.field(description="The staff member's name.")
    role: StaffRole = strawberry.field(description="SUPPORT, MODERATOR or ADMIN.")
    scopes: list[str] = strawberry.field(description="The scopes the role grants, sorted.")
    disabled: bool = strawberry.field(description="True once disabled: it cannot sign in.")
    version: int = strawberry.field(
        description="Counts changes; pass it as `expectedVersion` to change the account."
    )
    created_at: datetime = strawberry.field(description="When the account was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_row(cls, row: Any) -> StaffAccount:
        return cls(
            id=strawberry.ID(str(row.id)),
            email=row.email,
            display_name=row.display_name,
            role=StaffRole(row.role),
            scopes=sorted(scopes_for([row.role])),
            disabled=row.disabled_at is not None,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="Tokens for a signed-in staff session.")
class StaffAuthPayload:
    access_token: str = strawberry.field(
        description="Short-lived JWT carrying the role's scopes: `Authorization: Bearer …`."
    )
    refresh_token: str = strawberry.field(
        description="Single-use token for `staffRefreshToken` (lasts a working day)."
    )
    token_type: str = strawberry.field(description="Always `Bearer`.")
    expires_in: int = strawberry.field(description="Seconds until the access token expires.")
    staff: StaffAccount = strawberry.field(description="The signed-in staff member.")


@strawberry.type(
    description="One staff action in the append-only audit log: who did what to which "
    "target, when, the target before and after, and how it ended."
)
class AuditEntry:
    id: strawberry.ID = strawberry.field(description="Stable id of the entry.")
    staff_id: strawberry.ID = strawberry.field(description="The staff member who acted.")
    staff_email: str = strawberry.field(description="Their email when they acted.")
    action: AuditAction = strawberry.field(description="What they did.")
    target_type: TargetType = strawberry.field(description="What it was done to.")
    target_id: strawberry.ID = strawberry.field(description="The id of what it was done to.")
    idempotency_key: str | None = strawberry.field(
        description="The key the staff member's client sent with it, if any."
    )
    request: JSON = strawberry.field(description="The arguments of the action.")
    before: JSON | None = strawberry.field(
        description="The target as its owner showed it just before; null if unknown."
    )
    after: JSON | None = strawberry.field(
        description="What the owner answered when it succeeded; null otherwise."
    )
    outcome: AuditOutcome = strawberry.field(description="SUCCEEDED, REFUSED or FAILED.")
    error_code: str | None = strawberry.field(
        description="The owner's `extensions.code` when REFUSED or FAILED."
    )
    error_message: str | None = strawberry.field(
        description="The owner's message when REFUSED or FAILED."
    )
    trace_id: str | None = strawberry.field(description="The request's trace id, if traced.")
    created_at: datetime = strawberry.field(description="When it was done.")

    @classmethod
    def from_row(cls, row: Any) -> AuditEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            staff_id=strawberry.ID(str(row.staff_id)),
            staff_email=row.staff_email,
            action=AuditAction(row.action),
            target_type=TargetType(row.target_type),
            target_id=strawberry.ID(row.target_id),
            idempotency_key=row.idempotency_key,
            request=row.request,
            before=row.before,
            after=row.after,
            outcome=AuditOutcome(row.outcome),
            error_code=row.error_code,
            error_message=row.error_message,
            trace_id=row.trace_id,
            created_at=row.created_at,
        )


@strawberry.input(description="A new staff account.")
class CreateStaffInput:
    email: str = strawberry.field(description="Sign-in email, unique among staff.")
    password: str = strawberry.field(description="12 to 128 characters.")
    display_name: str = strawberry.field(description="1 to 80 characters.")
    role: StaffRole = strawberry.field(description="SUPPORT, MODERATOR or ADMIN.")


def _state(info: Ctx) -> sessions.SignInState:
    return sessions.state_of(info.context)


def _signed_in(info: Ctx, staff: Any, refresh_token: str) -> StaffAuthPayload:
    issuer = _state(info).issuer
    return StaffAuthPayload(
        access_token=issuer.access_token(
            staff.id, roles=[staff.role], scopes=sorted(scopes_for([staff.role]))
        ),
        refresh_token=refresh_token,
        token_type="Bearer",
        expires_in=issuer.ttl_seconds,
        staff=StaffAccount.from_row(staff),
    )


IdempotencyKey = Annotated[
    str,
    strawberry.argument(
        description="A key of your choosing for this one action (say a UUID per click): "
        "sending it again answers what the first attempt did, without acting twice."
    ),
]
Reason = Annotated[
    str, strawberry.argument(description="Why (the member sees it; 1 to 1,000 characters).")
]
ExpectedVersion = Annotated[
    int | None,
    strawberry.argument(description="The account's version you last read (CONFLICT if stale)."),
]
StaffId = Annotated[strawberry.ID, strawberry.argument(description="The staff account.")]


def _staff_id(info: Ctx) -> uuid.UUID:
    return uuid.UUID(info.context.require_identity().user_id)


@strawberry.type
class Query:
    @strawberry.field(
        description="The signed-in staff member's account; staff only (a member is FORBIDDEN)."
    )
    async def staff_me(self, info: Ctx) -> StaffAccount:
        identity = info.context.require_identity()
        if not identity.staff:
            raise Forbidden("Only staff have a staff account.")
        async with info.context.platform.db.read() as conn:
            [row] = await service.staff_by_id(conn, [uuid.UUID(identity.user_id)])
        if row is None:
            raise Forbidden("This staff account no longer exists.")
        return StaffAccount.from_row(row)

    @staff_field(scopes=[Scope.STAFF_MANAGE], description="Staff accounts, newest first.")
    async def staff_accounts(
        self, info: Ctx, first: First = None, after: After = None
    ) -> Connection[StaffAccount]:
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.staff_list(conn, first=size, after=after)
        return connection(
            rows, first=size, node=StaffAccount.from_row, key=lambda row: (row.created_at, row.id)
        )

    @staff_field(
        scopes=[Scope.AUDIT_READ],
        description="The audit log of staff actions, newest first; filter by staff member or "
        "by target.",
    )
    async def audit_log(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        staff_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this staff member's.")
        ] = None,
        target: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="Only actions on this target (a case, member or staff id)."
            ),
        ] = None,
    ) -> Connection[AuditEntry]:
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.audit_page(
                conn,
                first=size,
                after=after,
                staff_id=parse_id(staff_id, field="staffId") if staff_id else None,
                target_id=str(parse_id(target, field="target")) if target else None,
            )
        return connection(
            rows, first=size, node=AuditEntry.from_row, key=lambda row: (row.created_at, row.id)
        )


def _owner_read(info: Ctx, url: str, query: str, variables: dict[str, Any], name: str) -> Any:
    """Reads at the owner with the staff member's own token."""
    platform = info.context.platform

    async def read() -> dict[str, Any]:
        return await owners.execute(
            platform.http,
            url,
            query,
            variables,
            authorization=info.context.authorization,
            operation=name,
        )

    return read


def _owner_act(
    info: Ctx, url: str, query: str, variables: dict[str, Any], name: str
) -> actions.Act:
    """Acts at the owner with the action token `actions.perform` hands it, and answers the
    mutation's result."""
    platform = info.context.platform

    async def call(authorization: str) -> dict[str, Any]:
        data = await owners.execute(
            platform.http, url, query, variables, authorization=authorization, operation=name
        )
        return dict(data[name])

    return actions.Act(mutation=name, call=call)


def _case_before(info: Ctx, case: str) -> actions.Read:
    url = info.context.platform.settings.moderation_graphql_url
    read = _owner_read(info, url, owners.CASE, {"id": case}, "moderationCase")

    async def before() -> dict[str, Any] | None:
        return (await read()).get("moderationCase")

    return before


def _first_entity(data: dict[str, Any], field: str) -> dict[str, Any] | None:
    entities = data.get("_entities") or [None]
    return (entities[0] or {}).get(field)


async def _perform(info: Ctx, action: StaffAction) -> AuditEntry:
    entry = await actions.perform(
        info.context.platform, issuer=_state(info).issuer, staff_id=_staff_id(info), action=action
    )
    return AuditEntry.from_row(entry)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Signs a staff member in with email and password; a disabled account is "
        "FORBIDDEN. Limited like the member sign-in (RATE_LIMITED with `retryAfter`)."
    )
    async def staff_login(
        self,
        info: Ctx,
        email: Annotated[str, strawberry.argument(description="The staff member's email.")],
        password: Annotated[str, strawberry.argument(description="The staff member's password.")],
    ) -> StaffAuthPayload:
        platform = info.context.platform
        staff, refresh = await sessions.sign_in(
            platform.db,
            platform.limiter,
            _state(info).limits,
            service.SESSIONS,
            email=email,
            password=password,
            address=info.context.client_address,
            refresh_ttl_seconds=platform.settings.staff_refresh_token_ttl_seconds,
            authenticate=service.authenticate,
        )
        return _signed_in(info, staff, refresh)

    @strawberry.mutation(
        description="Trades a staff refresh token for new tokens (single use; a spent one "
        "coming back ends every session of the account)."
    )
    async def staff_refresh_token(
        self,
        info: Ctx,
        refresh_token: Annotated[
            str, strawberry.argument(description="The refresh token of the last sign-in.")
        ],
    ) -> StaffAuthPayload:
        platform = info.context.platform
        staff, refresh = await sessions.refresh_session(
            platform.db,
            platform.limiter,
            _state(info).limits,
            service.SESSIONS,
            token=refresh_token,
            address=info.context.client_address,
            refresh_ttl_seconds=platform.settings.staff_refresh_token_ttl_seconds,
            check_owner=service.enabled_staff,
        )
        return _signed_in(info, staff, refresh)

    @strawberry.mutation(description="Ends a staff session; true even if it already ended.")
    async def staff_logout(
        self,
        info: Ctx,
        refresh_token: Annotated[
            str, strawberry.argument(description="The refresh token of the session to end.")
        ],
    ) -> bool:
        await service.SESSIONS.end(info.context.platform.db, token=refresh_token)
        return True

    @staff_mutation(
        scopes=[Scope.STAFF_MANAGE],
        description="Creates a staff account (audited); an email already taken is CONFLICT.",
    )
    async def create_staff(
        self,
        info: Ctx,
        input: Annotated[CreateStaffInput, strawberry.argument(description="The new account.")],
    ) -> StaffAccount:
        request = {
            "email": input.email,
            "displayName": input.display_name,
            "role": input.role.value,
        }

        async def create(session: Any) -> Any:
            return await service.create_staff(
                session,
                email=input.email,
                password=input.password,
                display_name=input.display_name,
                role=input.role.value,
            )

        row = await actions.manage(
            info.context.platform,
            staff_id=_staff_id(info),
            action=AuditAction.CREATE_STAFF,
            target_id=None,
            request=request,
            change=create,
        )
        return StaffAccount.from_row(row)

    @staff_mutation(
        scopes=[Scope.STAFF_MANAGE],
        description="Gives a staff member another role (audited); their sessions end, so "
        "their next sign-in carries the new scopes. Your own role is FORBIDDEN.",
    )
    async def change_staff_role(
        self,
        info: Ctx,
        staff_id: StaffId,
        role: Annotated[StaffRole, strawberry.argument(description="The new role.")],
        expected_version: ExpectedVersion = None,
    ) -> StaffAccount:
        actor, target = _staff_id(info), parse_id(staff_id, field="staffId")

        async def change(session: Any) -> Any:
            return await service.change_role(
                session,
                staff_id=target,
                role=role.value,
                expected_version=expected_version,
                actor_id=actor,
            )

        row = await actions.manage(
            info.context.platform,
            staff_id=actor,
            action=AuditAction.CHANGE_STAFF_ROLE,
            target_id=target,
            request={"staffId": str(target), "role": role.value},
            change=change,
        )
        return StaffAccount.from_row(row)

    @staff_mutation(
        scopes=[Scope.STAFF_MANAGE],
        description="Disables a staff account (audited): it cannot sign in and its sessions "
        "end; an access token already out expires within minutes. Your own is FORBIDDEN.",
    )
    async def disable_staff(
        self, info: Ctx, staff_id: StaffId, expected_version: ExpectedVersion = None
    ) -> StaffAccount:
        actor, target = _staff_id(info), parse_id(staff_id, field="staffId")

        async def disable(session: Any) -> Any:
            return await service.disable_staff(
                session, staff_id=target, expected_version=expected_version, actor_id=actor
            )

        row = await actions.manage(
            info.context.platform,
            staff_id=actor,
            action=AuditAction.DISABLE_STAFF,
            target_id=target,
            request={"staffId": str(target)},
            change=disable,
        )
        return StaffAccount.from_row(row)

    @staff_mutation(
        scopes=[Scope.CASES_ACT],
        description="Takes an OPEN case into review through the moderation subgraph and "
        "writes it to the audit log (also when moderation refuses: its error comes back with "
        "`extensions.auditId`). Once per `idempotencyKey`.",
    )
    async def review_case(
        self,
        info: Ctx,
        case_id: Annotated[strawberry.ID, strawberry.argument(description="The case.")],
        idempotency_key: IdempotencyKey,
    ) -> AuditEntry:
        case = str(parse_id(case_id, field="caseId"))
        url = info.context.platform.settings.moderation_graphql_url
        request = {"caseId": case}
        return await _perform(
            info,
            StaffAction(
                action=AuditAction.REVIEW_CASE,
                target_type=TargetType.CASE,
                target_id=case,
                request=request,
                idempotency_key=idempotency_key,
                scope=Scope.CASES_ACT,
                before=_case_before(info, case),
                act=_owner_act(info, url, owners.START_REVIEW, request, "startCaseReview"),
            ),
        )

    @staff_mutation(
        scopes=[Scope.CASES_ACT],
        description="Decides a member's PENDING appeal through the moderation subgraph "
        "(OVERTURNED undoes the action and ends a suspension or ban it put in force) and "
        "writes it to the audit log. Once per `idempotencyKey`.",
    )
    async def act_on_appeal(
        self,
        info: Ctx,
        appeal_id: Annotated[strawberry.ID, strawberry.argument(description="The appeal.")],
        decision: Annotated[AppealDecision, strawberry.argument(description="The decision.")],
        idempotency_key: IdempotencyKey,
    ) -> AuditEntry:
        appeal = str(parse_id(appeal_id, field="appealId"))
        url = info.context.platform.settings.moderation_graphql_url
        variables = {"appealId": appeal, "outcome": decision.value}
        read = _owner_read(info, url, owners.APPEAL, {"id": appeal}, "moderationAppeal")

        async def before() -> dict[str, Any] | None:
            return (await read()).get("moderationAppeal")

        return await _perform(
            info,
            StaffAction(
                action=AuditAction.DECIDE_APPEAL,
                target_type=TargetType.APPEAL,
                target_id=appeal,
                request=variables,
                idempotency_key=idempotency_key,
                scope=Scope.CASES_ACT,
                before=before,
                act=_owner_act(info, url, owners.DECIDE_APPEAL, variables, "decideAppeal"),
            ),
        )

    @staff_mutation(
        scopes=[Scope.CASES_ACT],
        description="Decides a moderation case through the moderation subgraph and writes it "
        "to the audit log (also when moderation refuses: its error comes back with "
        "`extensions.auditId`). Once per `idempotencyKey`.",
    )
    async def act_on_case(
        self,
        info: Ctx,
        case_id: Annotated[strawberry.ID, strawberry.argument(description="The case.")],
        decision: Annotated[CaseDecision, strawberry.argument(description="What to do.")],
        reason: Reason,
        idempotency_key: IdempotencyKey,
        until: Annotated[
            datetime | None,
            strawberry.argument(description="When a SUSPEND ends; only for SUSPEND."),
        ] = None,
    ) -> AuditEntry:
        case = str(parse_id(case_id, field="caseId"))
        url = info.context.platform.settings.moderation_graphql_url
        variables = {
            "caseId": case,
            "action": decision.value,
            "reason": reason,
            "until": until.isoformat() if until else None,
        }
        return await _perform(
            info,
            StaffAction(
                action=AuditAction.ACT_ON_CASE,
                target_type=TargetType.CASE,
                target_id=case,
                request=variables,
                idempotency_key=idempotency_key,
                scope=Scope.CASES_ACT,
                before=_case_before(info, case),
                act=_owner_act(info, url, owners.TAKE_ACTION, variables, "takeModerationAction"),
            ),
        )

    @staff_mutation(
        scopes=[Scope.MEMBERS_SUSPEND],
        description="Suspends a member until `until` through the moderation subgraph (which "
        "opens the member's case, or takes their open one, and closes it with the "
        "suspension) and writes it to the audit log. Once per `idempotencyKey`.",
    )
    async def suspend_member(
        self,
        info: Ctx,
        user_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
        until: Annotated[
            datetime, strawberry.argument(description="When it ends (future, within a year).")
        ],
        reason: Reason,
        idempotency_key: IdempotencyKey,
    ) -> AuditEntry:
        member = str(parse_id(user_id, field="userId"))
        url = info.context.platform.settings.moderation_graphql_url
        request = {"userId": member, "until": until.isoformat(), "reason": reason}
        read = _owner_read(
            info, url, owners.MODERATION_STATUS, owners.member(member), "moderationStatus"
        )
        key = actions.request_key(_staff_id(info), idempotency_key)

        async def before() -> dict[str, Any] | None:
            return _first_entity(await read(), "moderationStatus")

        return await _perform(
            info,
            StaffAction(
                action=AuditAction.SUSPEND_MEMBER,
                target_type=TargetType.MEMBER,
                target_id=member,
                request=request,
                idempotency_key=idempotency_key,
                scope=Scope.MEMBERS_SUSPEND,
                before=before,
                act=_owner_act(
                    info, url, owners.SUSPEND, {**request, "requestKey": key}, "imposeSuspension"
                ),
            ),
        )

    @staff_mutation(
        scopes=[Scope.BILLING_REFUND],
        description="Refunds a member's paid period through the subscription subgraph (their "
        "Premium ends now) and writes it to the audit log. Once per `idempotencyKey`.",
    )
    async def refund_subscription(
        self,
        info: Ctx,
        user_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
        reason: Annotated[
            str,
            strawberry.argument(description="Why (kept with the refund; 1 to 1,000 characters)."),
        ],
        idempotency_key: IdempotencyKey,
    ) -> AuditEntry:
        member = str(parse_id(user_id, field="userId"))
        url = info.context.platform.settings.subscription_graphql_url
        request = {"userId": member, "reason": reason}
        read = _owner_read(info, url, owners.SUBSCRIPTION, owners.member(member), "subscription")
        key = actions.request_key(_staff_id(info), idempotency_key)

        async def before() -> dict[str, Any] | None:
            return _first_entity(await read(), "subscription")

        return await _perform(
            info,
            StaffAction(
                action=AuditAction.REFUND_SUBSCRIPTION,
                target_type=TargetType.MEMBER,
                target_id=member,
                request=request,
                idempotency_key=idempotency_key,
                scope=Scope.BILLING_REFUND,
                before=before,
                act=_owner_act(
                    info, url, owners.REFUND, {**request, "requestKey": key}, "recordStaffRefund"
                ),
            ),
        )


schema = build_schema(query=Query, mutation=Mutation)
