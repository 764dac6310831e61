"""Calls to the subgraphs that own what staff act on (moderation, subscription), over HTTP:
reads with the staff member's own token, actions with the action token minted for their
audit entry (kindred.auth); each owner checks the token itself."""

from __future__ import annotations

from typing import Any

import httpx
from opentelemetry import trace

from kindred.errors import ErrorCode, KindredError, Unavailable
from kindred.telemetry import inject_http_headers, tracer

_CODES = frozenset(code.value for code in ErrorCode)


class OwnerRefused(KindredError):
    """The owning subgraph answered with an error: its code, message and details."""

    def __init__(self, message: str, code: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.code = ErrorCode(code) if code in _CODES else ErrorCode.INTERNAL


async def execute(
    http: httpx.AsyncClient,
    url: str,
    query: str,
    variables: dict[str, Any],
    *,
    authorization: str | None,
    operation: str,
) -> dict[str, Any]:
    """The `data` of one GraphQL operation at `url`, with the caller's `Authorization` and
    trace context (`traceparent`); the owner's first error as `OwnerRefused`, an owner that
    cannot be reached (or answers garbage) as `SERVICE_UNAVAILABLE`."""
    with tracer.start_as_current_span(operation, kind=trace.SpanKind.CLIENT) as span:
        span.set_attribute("server.address", url)
        headers = inject_http_headers(
            {"content-type": "application/json", "accept": "application/json"}
        )
        if authorization:
            headers["authorization"] = authorization
        try:
            response = await http.post(
                url, json={"query": query, "variables": variables}, headers=headers
            )
            payload = response.json()
        except (httpx.HTTPError, ValueError) as error:
            span.record_exception(error)
            raise Unavailable(f"{url} cannot be reached; try again shortly.") from error
    if not isinstance(payload, dict):
        raise Unavailable(f"{url} answered something that is not GraphQL.")
    errors = payload.get("errors")
    if errors:
        first = errors[0]
        extensions = dict(first.get("extensions") or {})
        code = str(extensions.pop("code", ErrorCode.INTERNAL.value))
        raise OwnerRefused(first.get("message", "The owner refused."), code, **extensions)
    data = payload.get("data")
    if not isinstance(data, dict):
        raise Unavailable(f"{url} answered without data.")
    return data


# -- the owners' operations -----------------------------------------------------------------

CASE = """query AdminCaseBefore($id: ID!) {
  moderationCase(id: $id) { id status version user { id } }
}"""

START_REVIEW = """mutation AdminReviewCase($caseId: ID!) {
  startCaseReview(caseId: $caseId) { id status version user { id } }
}"""

APPEAL = """query AdminAppealBefore($id: ID!) {
  moderationAppeal(id: $id) { id actionId status decidedAt user { id } }
}"""

DECIDE_APPEAL = """mutation AdminActOnAppeal($appealId: ID!, $outcome: AppealOutcome!) {
  decideAppeal(appealId: $appealId, outcome: $outcome) {
    id actionId status decidedAt user { id }
  }
}"""

TAKE_ACTION = """mutation AdminActOnCase(
  $caseId: ID!, $action: ModerationActionKind!, $reason: String!, $until: DateTime
) {
  takeModerationAction(caseId: $caseId, action: $action, reason: $reason, until: $until) {
    id caseId action until reason createdAt user { id }
  }
}"""

MODERATION_STATUS = """query AdminStandingBefore($r: [_Any!]!) {
  _entities(representations: $r) { ... on User { moderationStatus { status until reason } } }
}"""

SUSPEND = """mutation AdminSuspendMember(
  $userId: ID!, $until: DateTime!, $reason: String!, $requestKey: String!
) {
  imposeSuspension(userId: $userId, until: $until, reason: $reason, requestKey: $requestKey) {
    id caseId action until reason createdAt user { id }
  }
}"""

SUBSCRIPTION = """query AdminSubscriptionBefore($r: [_Any!]!) {
  _entities(representations: $r) {
    ... on User {
      subscription { plan status currentPeriodEnd entitledUntil entitlements version }
    }
  }
}"""

REFUND = """mutation AdminRefund($userId: ID!, $reason: String!, $requestKey: String!) {
  recordStaffRefund(userId: $userId, reason: $reason, requestKey: $requestKey) {
    id refundedPeriodEnd createdAt
    subscription { plan status currentPeriodEnd entitledUntil entitlements version }
  }
}"""


def member(user_id: str) -> dict[str, Any]:
    """The representation of a member for `_entities`."""
    return {"r": [{"__typename": "User", "id": user_id}]}
