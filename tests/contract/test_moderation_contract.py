"""The moderation subgraph's contract: SDL, who is a member (only members can be reported),
report rules and the per-reporter limit, case
transitions, actions and the events they publish (read from the outbox), the standing's
version order, appeals once, who may read what (a banned member's appeal token: their own
standing and actions, and appealing), screening handlers' idempotence, and the effects of a
suspension in queuing and user."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from kindred import member_state
from kindred.credentials import TokenIssuer
from kindred.errors import Forbidden
from kindred.events import Event
from kindred.sdl import REPO, export
from kindred.staff import Role, Scope
from kindred.topics import Topic
from subgraphs.communication.handlers import HANDLERS as COMMUNICATION_HANDLERS
from subgraphs.moderation import handlers, service
from subgraphs.moderation.app import SUBGRAPH as MODERATION
from subgraphs.queuing import service as queuing_service
from subgraphs.queuing.handlers import HANDLERS as QUEUING_HANDLERS
from subgraphs.user import events as user_events
from subgraphs.user.handlers import HANDLERS as USER_HANDLERS
from subgraphs.user.models import Account
from tests.contract.conftest import Served, serve_trusting
from tests.support import (
    action_token,
    contract_database,
    error_codes,
    gql,
    register,
    staff_token,
)

REPORT = """
mutation($u: ID!, $r: ReportReason!, $d: String, $c: ID, $m: ID) {
  report(userId: $u, reason: $r, details: $d, conversationId: $c, messageId: $m) {
    id reason details caseStatus conversationId messageId
    reporter { id } reportedUser { id }
  }
}"""
MY_REPORTS = """
query($first: Int, $after: String) {
  myReports(first: $first, after: $after) {
    edges { node { id reportedUser { id } caseStatus } }
    pageInfo { hasNextPage endCursor }
  }
}"""
CASES = """
query($status: CaseStatus) {
  moderationCases(status: $status, first: 100) { edges { node { id user { id } status } } }
}"""
CASE = """
query($id: ID!) {
  moderationCase(id: $id) {
    id status version user { id }
    reports { edges { node { id reason reporter { id } } } }
    flags { edges { node { source terms text conversationId messageId } } }
    actions { id action until reason }
  }
}"""
REVIEW = "mutation($c: ID!) { startCaseReview(caseId: $c) { id status version } }"
ACT = """
mutation($c: ID!, $a: ModerationActionKind!, $r: String!, $u: DateTime) {
  takeModerationAction(caseId: $c, action: $a, reason: $r, until: $u) {
    id caseId action until reason overturned user { id }
  }
}"""
STATUS = """
query($r: [_Any!]!) {
  _entities(representations: $r) { ... on User { moderationStatus { status until reason } } }
}"""
ACTIONS = """
query($r: [_Any!]!) {
  _entities(representations: $r) { ... on User {
    moderationActions { edges { node { id action overturned appeal { id status } } } }
  } }
}"""
APPEAL = (
    "mutation($a: ID!, $t: String!) { appealAction(actionId: $a, text: $t) { id status actionId } }"
)
DECIDE = """
mutation($a: ID!, $o: AppealOutcome!) { decideAppeal(appealId: $a, outcome: $o) { id status } }"""
APPEALS = "{ moderationAppeals(status: PENDING, first: 100) { edges { node { id } } } }"
SUSPEND = """
mutation($u: ID!, $until: DateTime!, $r: String!, $k: String!) {
  imposeSuspension(userId: $u, until: $until, reason: $r, requestKey: $k) {
    id caseId action until reason user { id }
  }
}"""


@pytest.fixture
def client(moderation_served: Served) -> httpx.AsyncClient:
    return moderation_served.client


@pytest.fixture
def db(infra: Any, moderation_served: Served) -> Iterator[psycopg.Connection[Any]]:
    with contract_database(infra, "moderation") as connection:
        yield connection


@pytest.fixture
def moderator(staff_issuer: TokenIssuer) -> str:
    """A staff token of the moderator role (cases:read, cases:act, members:suspend)."""
    return staff_token(staff_issuer, Role.MODERATOR)


@dataclasses.dataclass(frozen=True)
class Acting:
    """An action token for each audited mutation here, as the admin subgraph mints one for
    each action (a staff member's own token, or one for another mutation, is refused)."""

    review: str
    act: str
    decide: str
    suspend: str


@pytest.fixture
def acting(staff_issuer: TokenIssuer) -> Acting:
    return Acting(
        review=action_token(staff_issuer, "startCaseReview", Scope.CASES_ACT),
        act=action_token(staff_issuer, "takeModerationAction", Scope.CASES_ACT),
        decide=action_token(staff_issuer, "decideAppeal", Scope.CASES_ACT),
        suspend=action_token(staff_issuer, "imposeSuspension", Scope.MEMBERS_SUSPEND),
    )


def _ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def _refused(body: dict[str, Any], code: str, field: str | None = None) -> dict[str, Any]:
    assert error_codes(body) == [code], body
    extensions: dict[str, Any] = body["errors"][0]["extensions"]
    if field is not None:
        assert extensions.get("field") == field, body
    return extensions


def _events(db: psycopg.Connection[Any], topic: str, aggregate_id: str) -> list[dict[str, Any]]:
    """The envelopes of `topic` about `aggregate_id` in the outbox, oldest first."""
    rows = db.execute(
        "SELECT convert_from(value, 'UTF8')::jsonb FROM outbox WHERE topic = %s AND key = %s"
        " ORDER BY id",
        (topic, aggregate_id),
    ).fetchall()
    return [row[0] for row in rows]


def _count(db: psycopg.Connection[Any], sql: str, *args: Any) -> int:
    row = db.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0])


async def handle(served: Served, table: Any, event: Event) -> None:
    """Applies `event` as the consumer would: the handler in `table`, in one unit of work."""
    async with served.platform.db.unit_of_work() as uow:
        await table[event.topic](uow, event)
        await uow.commit()


def profile_updated(user_id: uuid.UUID, bio: str | None, version: int) -> Event:
    return Event(
        topic=Topic.USER_PROFILE_UPDATED,
        aggregate_id=str(user_id),
        aggregate_version=version,
        payload={"user_id": str(user_id), "display_name": "Robin", "bio": bio},
    )


def user_deleted(user_id: uuid.UUID, version: int) -> Event:
    return Event(
        topic=Topic.USER_DELETED,
        aggregate_id=str(user_id),
        aggregate_version=version,
        payload={"user_id": str(user_id)},
    )


NewMember = Callable[[], Awaitable[uuid.UUID]]


@pytest.fixture
def new_member(user_served: Served, moderation_served: Served) -> NewMember:
    """Makes members as the product does: registered with the user subgraph (so the
    federation resolves them when a case names them), and known to moderation (only members
    can be reported) through the user subgraph's own `user.profile.updated` about them,
    handled as moderation's consumer would."""

    async def make() -> uuid.UUID:
        member = uuid.UUID((await register(user_served.client)).id)
        async with user_served.platform.db.session() as session:
            account = await session.get(Account, member)
        assert account is not None
        await handle(moderation_served, handlers.HANDLERS, user_events.profile_updated(account))
        return member

    return make


async def report(
    client: httpx.AsyncClient, token: str, user_id: uuid.UUID, **variables: Any
) -> dict[str, Any]:
    return await gql(
        client, REPORT, {"u": str(user_id), "r": "HARASSMENT", **variables}, token=token
    )


async def case_of(db: psycopg.Connection[Any], member: uuid.UUID) -> str:
    row = db.execute(
        "SELECT id FROM cases WHERE user_id = %s ORDER BY opened_at DESC LIMIT 1", (member,)
    ).fetchone()
    assert row is not None
    return str(row[0])


async def reported(
    new_member: NewMember,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    db: psycopg.Connection[Any],
) -> tuple[uuid.UUID, str]:
    """A new member reported once: (their id, their open case's id)."""
    member = await new_member()
    _ok(await report(client, issuer.access_token(uuid.uuid4()), member))
    return member, await case_of(db, member)


async def act(
    client: httpx.AsyncClient, token: str, case_id: str, action: str, **variables: Any
) -> dict[str, Any]:
    return await gql(
        client, ACT, {"c": case_id, "a": action, "r": "Abusive messages", **variables}, token=token
    )


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


# -- the SDL ----------------------------------------------------------------------------


async def test_the_served_sdl_is_the_committed_one(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ _service { sdl } }")
    committed = (REPO / "subgraphs" / "moderation" / "schema.graphql").read_text()
    assert body["data"]["_service"]["sdl"].rstrip() == committed.rstrip()
    assert export("moderation") == committed, "run `make compose` to refresh the SDL"
    assert 'type User @key(fields: "id")' in committed


# -- reports ------------------------------------------------------------------------------


async def test_a_report_joins_the_members_one_open_case(
    new_member: NewMember,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    db: Any,
    moderator: str,
) -> None:
    member, ann, bob = await new_member(), uuid.uuid4(), uuid.uuid4()
    conversation, message = uuid.uuid4(), uuid.uuid4()
    first = _ok(
        await report(
            client,
            issuer.access_token(ann),
            member,
            d="Insults in chat",
            c=str(conversation),
            m=str(message),
        )
    )["report"]
    assert first["reporter"] == {"id": str(ann)}
    assert first["reportedUser"] == {"id": str(member)}
    assert first["caseStatus"] == "OPEN"
    assert (first["conversationId"], first["messageId"]) == (str(conversation), str(message))
    [filed] = _events(db, "moderation.report.filed", first["id"])
    assert filed["payload"]["report_id"] == first["id"]
    assert filed["payload"]["reason"] == "HARASSMENT"
    _ok(await report(client, issuer.access_token(bob), member, r="SPAM"))
    assert _count(db, "SELECT count(*) FROM cases WHERE user_id = %s", member) == 1
    case = _ok(await gql(client, CASE, {"id": await case_of(db, member)}, token=moderator))
    case = case["moderationCase"]
    assert case["status"] == "OPEN"
    assert case["user"] == {"id": str(member)}
    assert sorted(edge["node"]["reporter"]["id"] for edge in case["reports"]["edges"]) == sorted(
        [str(ann), str(bob)]
    )


async def test_bad_reports_are_refused_and_change_nothing(
    new_member: NewMember, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    reporter, other = uuid.uuid4(), await new_member()
    token = issuer.access_token(reporter)
    filed = "SELECT count(*) FROM outbox WHERE topic = 'moderation.report.filed'"
    filed_before = _count(db, filed)
    _refused(await report(client, token, reporter), "BAD_USER_INPUT", "userId")
    _refused(await report(client, token, other, r="OTHER"), "BAD_USER_INPUT", "details")
    _refused(await report(client, token, other, d="   "), "BAD_USER_INPUT", "details")
    _refused(await report(client, token, other, d="x" * 1001), "BAD_USER_INPUT", "details")
    _refused(await report(client, token, other, r="BORING"), "BAD_USER_INPUT")
    body = await gql(client, REPORT, {"u": "nope", "r": "SPAM"}, token=token)
    _refused(body, "BAD_USER_INPUT", "userId")
    _refused(await report(client, token, other, m="nope"), "BAD_USER_INPUT", "messageId")
    _refused(await gql(client, REPORT, {"u": str(other), "r": "SPAM"}), "UNAUTHENTICATED")
    assert _count(db, "SELECT count(*) FROM reports WHERE reporter_id = %s", reporter) == 0
    assert _count(db, "SELECT count(*) FROM cases WHERE user_id = %s", other) == 0
    assert _count(db, filed) == filed_before


async def test_a_report_about_no_member_is_not_found_and_changes_nothing(
    moderation_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    reporter, stranger = uuid.uuid4(), uuid.uuid4()
    token = issuer.access_token(reporter)
    body = await report(client, token, stranger)
    _refused(body, "NOT_FOUND", "userId")
    assert body["errors"][0]["message"] == "No such member."
    assert _count(db, "SELECT count(*) FROM reports WHERE reporter_id = %s", reporter) == 0
    assert _count(db, "SELECT count(*) FROM cases WHERE user_id = %s", stranger) == 0


async def test_a_deleted_member_cannot_be_reported_and_older_news_does_not_revive_them(
    moderation_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    member, token = uuid.uuid4(), issuer.access_token(uuid.uuid4())
    await handle(moderation_served, handlers.HANDLERS, profile_updated(member, "Tea lover", 2))
    # Older news than what is known changes nothing.
    await handle(moderation_served, handlers.HANDLERS, profile_updated(member, None, 1))
    await handle(moderation_served, handlers.HANDLERS, user_deleted(member, 3))
    _refused(await report(client, token, member), "NOT_FOUND", "userId")
    # A profile event from before the deletion, delivered late, neither revives the
    # member nor raises a case about them (its bio would be screened otherwise).
    late = profile_updated(member, "Ask me anything, b.i.t.c.h", 2)
    await handle(moderation_served, handlers.HANDLERS, late)
    _refused(await report(client, token, member), "NOT_FOUND", "userId")
    assert _count(db, "SELECT count(*) FROM cases WHERE user_id = %s", member) == 0
    row = db.execute("SELECT version, deleted FROM members WHERE user_id = %s", (member,))
    assert row.fetchone() == (3, True)
    # A deletion seen before any profile event is remembered all the same.
    unseen = uuid.uuid4()
    await handle(moderation_served, handlers.HANDLERS, user_deleted(unseen, 2))
    await handle(moderation_served, handlers.HANDLERS, profile_updated(unseen, None, 1))
    _refused(await report(client, token, unseen), "NOT_FOUND", "userId")


async def test_reports_past_the_limit_are_rate_limited_per_reporter(
    infra: Any, contract_data_dir: Path, issuer: TokenIssuer, db: Any, new_member: NewMember
) -> None:
    async with serve_trusting(
        MODERATION,
        infra=infra,
        data_dir=contract_data_dir,
        issuer=issuer,
        report_limit=2,
        report_window_seconds=600,
    ) as limited:
        reporter, other = uuid.uuid4(), await new_member()
        token = issuer.access_token(reporter)
        # Bad input, and an id that is no member, are refused before they count.
        _refused(await report(limited.client, token, reporter), "BAD_USER_INPUT", "userId")
        _refused(await report(limited.client, token, uuid.uuid4()), "NOT_FOUND", "userId")
        for _ in range(2):
            _ok(await report(limited.client, token, await new_member()))
        extensions = _refused(await report(limited.client, token, other), "RATE_LIMITED")
        assert isinstance(extensions["retryAfter"], int)
        assert 0 < extensions["retryAfter"] <= 600
        assert _count(db, "SELECT count(*) FROM reports WHERE reporter_id = %s", reporter) == 2
        # Another reporter has a limit of their own.
        _ok(await report(limited.client, issuer.access_token(uuid.uuid4()), other))


async def test_members_read_only_their_own_reports(
    new_member: NewMember, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    ann, bob = uuid.uuid4(), uuid.uuid4()
    member = await new_member()
    filed = [
        _ok(await report(client, issuer.access_token(ann), member))["report"]["id"]
        for _ in range(3)
    ]
    _ok(await report(client, issuer.access_token(bob), member))
    seen: list[str] = []
    after = None
    while True:
        page = _ok(
            await gql(
                client, MY_REPORTS, {"first": 2, "after": after}, token=issuer.access_token(ann)
            )
        )["myReports"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(reversed(filed))
    bobs = _ok(await gql(client, MY_REPORTS, token=issuer.access_token(bob)))["myReports"]
    assert len(bobs["edges"]) == 1 and bobs["edges"][0]["node"]["id"] not in filed
    _refused(await gql(client, MY_REPORTS), "UNAUTHENTICATED")


# -- who may do what ------------------------------------------------------------------------


async def test_members_may_not_read_cases_or_act_on_them(
    new_member: NewMember,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    staff_issuer: TokenIssuer,
    db: Any,
    moderator: str,
) -> None:
    member, case_id = await reported(new_member, client, issuer, db)
    for token in (issuer.access_token(uuid.uuid4()), issuer.access_token(member)):
        for query, variables in (
            (CASES, {}),
            (CASE, {"id": case_id}),
            (APPEALS, {}),
            (REVIEW, {"c": case_id}),
            (ACT, {"c": case_id, "a": "BAN", "r": "no"}),
            (DECIDE, {"a": str(uuid.uuid4()), "o": "OVERTURNED"}),
        ):
            _refused(await gql(client, query, variables, token=token), "FORBIDDEN")
    # A member's token claiming a role is no token at all; support staff read cases but
    # may not act on them.
    claimed = issuer.access_token(uuid.uuid4(), roles=["moderator"])
    _refused(await gql(client, CASES, token=claimed), "UNAUTHENTICATED")
    support = staff_token(staff_issuer, Role.SUPPORT)
    _ok(await gql(client, CASE, {"id": case_id}, token=support))
    for query, variables in (
        (REVIEW, {"c": case_id}),
        (ACT, {"c": case_id, "a": "BAN", "r": "no"}),
        (SUSPEND, {"u": str(member), "until": _in(3600), "r": "no", "k": "k1"}),
    ):
        _refused(await gql(client, query, variables, token=support), "FORBIDDEN")
    _refused(await gql(client, CASES), "UNAUTHENTICATED")
    assert _count(db, "SELECT count(*) FROM actions WHERE case_id = %s", case_id) == 0

    listed = _ok(await gql(client, CASES, {"status": "OPEN"}, token=moderator))
    assert case_id in [edge["node"]["id"] for edge in listed["moderationCases"]["edges"]]


async def test_acting_takes_only_the_admin_subgraphs_action_token(
    new_member: NewMember,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    staff_issuer: TokenIssuer,
    db: Any,
    moderator: str,
) -> None:
    """Every staff action lands in the admin subgraph's audit log: a moderator's own token
    (scopes and all) cannot act here, only an action token naming its audit entry can."""
    member, case_id = await reported(new_member, client, issuer, db)
    appeal_id = str(uuid.uuid4())
    audited = (
        (REVIEW, {"c": case_id}, "reviewCase"),
        (ACT, {"c": case_id, "a": "BAN", "r": "no"}, "actOnCase"),
        (DECIDE, {"a": appeal_id, "o": "OVERTURNED"}, "actOnAppeal"),
        (SUSPEND, {"u": str(member), "until": _in(3600), "r": "no", "k": "k1"}, "suspendMember"),
    )
    # An action token for another scope is no good either.
    refunding = action_token(staff_issuer, "recordStaffRefund", Scope.BILLING_REFUND)
    for query, variables, via in audited:
        refused = _refused(await gql(client, query, variables, token=moderator), "FORBIDDEN")
        assert (refused["reason"], refused["via"]) == ("NOT_AUDITED", via)
        body = await gql(client, query, variables, token=moderator)
        assert f"admin subgraph's `{via}`" in body["errors"][0]["message"]
        _refused(await gql(client, query, variables, token=refunding), "FORBIDDEN")
    assert _count(db, "SELECT count(*) FROM actions WHERE user_id = %s", member) == 0
    case = _ok(await gql(client, CASE, {"id": case_id}, token=moderator))["moderationCase"]
    assert case["status"] == "OPEN"

    # Nor is one minted for another of these mutations: each action token is for one.
    reviewing = action_token(staff_issuer, "startCaseReview", Scope.CASES_ACT)
    wrong = _refused(await act(client, reviewing, case_id, "BAN"), "FORBIDDEN")
    assert (wrong["reason"], wrong["via"]) == ("WRONG_ACTION", "actOnCase")
    assert _count(db, "SELECT count(*) FROM actions WHERE user_id = %s", member) == 0

    reviewed = _ok(await gql(client, REVIEW, {"c": case_id}, token=reviewing))
    assert reviewed["startCaseReview"]["status"] == "IN_REVIEW"
    acting = action_token(staff_issuer, "takeModerationAction", Scope.CASES_ACT)
    _ok(await act(client, acting, case_id, "WARN"))
    assert _count(db, "SELECT count(*) FROM actions WHERE user_id = %s", member) == 1


async def test_a_members_standing_and_actions_are_their_own(
    client: httpx.AsyncClient, issuer: TokenIssuer, moderator: str
) -> None:
    member = uuid.uuid4()
    variables = {"r": [{"__typename": "User", "id": str(member)}]}
    for query in (STATUS, ACTIONS):
        stranger = issuer.access_token(uuid.uuid4())
        _refused(await gql(client, query, variables, token=stranger), "FORBIDDEN")
        _refused(await gql(client, query, variables), "UNAUTHENTICATED")
        _ok(await gql(client, query, variables, token=moderator))
    own = _ok(await gql(client, STATUS, variables, token=issuer.access_token(member)))
    assert own["_entities"] == [
        {"moderationStatus": {"status": "ACTIVE", "until": None, "reason": None}}
    ]


# -- case transitions and actions --------------------------------------------------------


async def test_case_transitions_refuse_impossible_moves(
    new_member: NewMember,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    db: Any,
    moderator: str,
    acting: Acting,
) -> None:
    member, case_id = await reported(new_member, client, issuer, db)
    reviewed = _ok(await gql(client, REVIEW, {"c": case_id}, token=acting.review))
    assert reviewed["startCaseReview"]["status"] == "IN_REVIEW"
    _refused(await gql(client, REVIEW, {"c": case_id}, token=acting.review), "CONFLICT")
    # Values that are never right: BAD_USER_INPUT, and the case stays as it was.
    _refused(await act(client, acting.act, case_id, "SUSPEND"), "BAD_USER_INPUT", "until")
    _refused(
        await act(client, acting.act, case_id, "SUSPEND", u=_in(-60)), "BAD_USER_INPUT", "until"
    )
    _refused(
        await act(client, acting.act, case_id, "SUSPEND", u=_in(400 * 86400)),
        "BAD_USER_INPUT",
        "until",
    )
    _refused(await act(client, acting.act, case_id, "BAN", u=_in(60)), "BAD_USER_INPUT", "until")
    body = await gql(client, ACT, {"c": case_id, "a": "WARN", "r": " "}, token=acting.act)
    _refused(body, "BAD_USER_INPUT", "reason")
    assert _events(db, Topic.MODERATION_ACTION_TAKEN, case_id) == []
    assert _count(db, "SELECT count(*) FROM actions WHERE case_id = %s", case_id) == 0

    warned = _ok(await act(client, acting.act, case_id, "WARN"))["takeModerationAction"]
    assert warned["action"] == "WARN" and warned["user"] == {"id": str(member)}
    # Closed: no other action, no review.
    _refused(await act(client, acting.act, case_id, "BAN"), "CONFLICT")
    _refused(await gql(client, REVIEW, {"c": case_id}, token=acting.review), "CONFLICT")
    unknown = str(uuid.uuid4())
    _refused(await act(client, acting.act, unknown, "WARN"), "NOT_FOUND")
    _refused(await gql(client, CASE, {"id": unknown}, token=moderator), "NOT_FOUND")
    [taken] = _events(db, Topic.MODERATION_ACTION_TAKEN, case_id)
    assert taken["payload"] == {
        "action_id": warned["id"],
        "case_id": case_id,
        "user_id": str(member),
        "action": "WARN",
        "until": None,
        "reason": "Abusive messages",
    }
    # A warning changes no standing.
    assert _events(db, Topic.USER_SUSPENDED, str(member)) == []
    # New evidence opens a new case.
    _ok(await report(client, issuer.access_token(uuid.uuid4()), member))
    assert await case_of(db, member) != case_id


async def test_dismissing_closes_the_case_without_touching_the_member(
    new_member: NewMember,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    db: Any,
    moderator: str,
    acting: Acting,
) -> None:
    member, case_id = await reported(new_member, client, issuer, db)
    _ok(await act(client, acting.act, case_id, "DISMISS"))
    case = _ok(await gql(client, CASE, {"id": case_id}, token=moderator))["moderationCase"]
    assert case["status"] == "DISMISSED"
    [taken] = _events(db, Topic.MODERATION_ACTION_TAKEN, case_id)
    assert taken["payload"]["action"] == "DISMISS"
    assert _events(db, Topic.USER_SUSPENDED, str(member)) == []
    mine = _ok(
        await gql(
            client,
            ACTIONS,
            {"r": [{"__typename": "User", "id": str(member)}]},
            token=issuer.access_token(member),
        )
    )
    assert mine["_entities"][0]["moderationActions"]["edges"] == []


async def test_suspend_and_ban_publish_the_standing_in_version_order(
    moderation_served: Served,
    new_member: NewMember,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    db: Any,
    acting: Acting,
) -> None:
    member, case_id = await reported(new_member, client, issuer, db)
    until = _in(3600)
    suspended = _ok(await act(client, acting.act, case_id, "SUSPEND", u=until))
    action = suspended["takeModerationAction"]
    [event] = _events(db, Topic.USER_SUSPENDED, str(member))
    assert event["aggregate_version"] == 1
    assert event["payload"] == {
        "user_id": str(member),
        "until": datetime.fromisoformat(until).isoformat(),
        "reason": "Abusive messages",
        "action_id": action["id"],
        "case_id": case_id,
    }
    [taken] = _events(db, Topic.MODERATION_ACTION_TAKEN, case_id)
    assert taken["payload"]["action"] == "SUSPEND"
    assert taken["payload"]["until"] == event["payload"]["until"]
    variables = {"r": [{"__typename": "User", "id": str(member)}]}
    status = _ok(await gql(client, STATUS, variables, token=issuer.access_token(member)))
    assert status["_entities"][0]["moderationStatus"]["status"] == "SUSPENDED"
    assert status["_entities"][0]["moderationStatus"]["reason"] == "Abusive messages"

    _ok(await report(client, issuer.access_token(uuid.uuid4()), member))
    second_case = await case_of(db, member)
    banned = _ok(await act(client, acting.act, second_case, "BAN"))["takeModerationAction"]
    events = _events(db, Topic.USER_SUSPENDED, str(member))
    assert [e["aggregate_version"] for e in events] == [1, 2]
    assert events[1]["payload"]["until"] is None
    assert events[1]["payload"]["action_id"] == banned["id"]
    status = _ok(await gql(client, STATUS, variables, token=issuer.access_token(member)))
    assert status["_entities"][0]["moderationStatus"] == {
        "status": "BANNED",
        "until": None,
        "reason": "Abusive messages",
    }
    # A ban never ends by itself: the sweep leaves it.
    await service.end_suspensions(moderation_served.platform.db)
    assert _events(db, Topic.USER_REINSTATED, str(member)) == []


async def test_staff_suspend_a_member_once_per_request_key_closing_their_case(
    new_member: NewMember,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    staff_issuer: TokenIssuer,
    db: Any,
    moderator: str,
    acting: Acting,
) -> None:
    member, case_id = await reported(new_member, client, issuer, db)
    variables = {"u": str(member), "until": _in(3600), "r": "Repeated abuse.", "k": "key-1"}
    first = _ok(await gql(client, SUSPEND, variables, token=acting.suspend))["imposeSuspension"]
    # The member's open case is the one the suspension closes.
    assert first["caseId"] == case_id and first["action"] == "SUSPEND", first
    again = _ok(await gql(client, SUSPEND, variables, token=acting.suspend))["imposeSuspension"]
    assert again["id"] == first["id"]
    assert _count(db, "SELECT count(*) FROM actions WHERE user_id = %s", member) == 1
    assert len(_events(db, Topic.USER_SUSPENDED, str(member))) == 1
    case = _ok(await gql(client, CASE, {"id": case_id}, token=moderator))["moderationCase"]
    assert case["status"] == "ACTIONED"

    # A member with no case gets one, opened and actioned at once.
    quiet = await new_member()
    fresh = {**variables, "u": str(quiet), "k": "key-2"}
    opened = _ok(await gql(client, SUSPEND, fresh, token=acting.suspend))["imposeSuspension"]
    assert opened["caseId"] != case_id

    unknown = {**variables, "u": str(uuid.uuid4()), "k": "key-3"}
    _refused(await gql(client, SUSPEND, unknown, token=acting.suspend), "NOT_FOUND", "userId")
    past = {**variables, "k": "key-4", "until": _in(-60)}
    _refused(await gql(client, SUSPEND, past, token=acting.suspend), "BAD_USER_INPUT", "until")
    for token in (issuer.access_token(uuid.uuid4()), staff_token(staff_issuer, Role.SUPPORT)):
        _refused(await gql(client, SUSPEND, {**variables, "k": "key-5"}, token=token), "FORBIDDEN")
    assert _count(db, "SELECT count(*) FROM actions WHERE user_id = %s", member) == 1


async def test_a_suspension_ends_by_itself_and_is_announced_once(
    moderation_served: Served,
    new_member: NewMember,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    db: Any,
    acting: Acting,
) -> None:
    member, case_id = await reported(new_member, client, issuer, db)
    action = _ok(await act(client, acting.act, case_id, "SUSPEND", u=_in(3600)))
    # Time passes (the row is moved, not the clock).
    db.execute(
        "UPDATE standings SET until = now() - interval '1 second' WHERE user_id = %s", (member,)
    )
    variables = {"r": [{"__typename": "User", "id": str(member)}]}
    status = _ok(await gql(client, STATUS, variables, token=issuer.access_token(member)))
    assert status["_entities"][0]["moderationStatus"]["status"] == "ACTIVE"
    for _ in range(2):
        await service.end_suspensions(moderation_served.platform.db)
    [event] = _events(db, Topic.USER_REINSTATED, str(member))
    assert event["aggregate_version"] == 2
    assert event["payload"] == {
        "user_id": str(member),
        "action_id": action["takeModerationAction"]["id"],
    }


# -- appeals --------------------------------------------------------------------------------


async def test_an_action_is_appealed_once_and_overturning_reinstates(
    new_member: NewMember,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    db: Any,
    moderator: str,
    acting: Acting,
) -> None:
    member, case_id = await reported(new_member, client, issuer, db)
    token = issuer.access_token(member)
    action_id = _ok(await act(client, acting.act, case_id, "BAN"))["takeModerationAction"]["id"]

    # Only the member acted on may appeal; bad text changes nothing.
    stranger = issuer.access_token(uuid.uuid4())
    body = await gql(client, APPEAL, {"a": action_id, "t": "Not me"}, token=stranger)
    _refused(body, "NOT_FOUND")
    _refused(
        await gql(client, APPEAL, {"a": action_id, "t": " "}, token=token), "BAD_USER_INPUT", "text"
    )
    body = await gql(client, APPEAL, {"a": str(uuid.uuid4()), "t": "x"}, token=token)
    _refused(body, "NOT_FOUND")
    assert _count(db, "SELECT count(*) FROM appeals WHERE action_id = %s", action_id) == 0

    appeal = _ok(await gql(client, APPEAL, {"a": action_id, "t": "It was a joke"}, token=token))
    appeal_id = appeal["appealAction"]["id"]
    assert appeal["appealAction"]["status"] == "PENDING"
    again = await gql(client, APPEAL, {"a": action_id, "t": "Please"}, token=token)
    _refused(again, "CONFLICT")
    pending = _ok(await gql(client, APPEALS, token=moderator))["moderationAppeals"]["edges"]
    assert appeal_id in [edge["node"]["id"] for edge in pending]

    decided = _ok(
        await gql(client, DECIDE, {"a": appeal_id, "o": "OVERTURNED"}, token=acting.decide)
    )
    assert decided["decideAppeal"]["status"] == "OVERTURNED"
    _refused(
        await gql(client, DECIDE, {"a": appeal_id, "o": "UPHELD"}, token=acting.decide), "CONFLICT"
    )
    [outcome] = _events(db, Topic.MODERATION_APPEAL_DECIDED, action_id)
    assert outcome["payload"] == {
        "appeal_id": appeal_id,
        "action_id": action_id,
        "user_id": str(member),
        "outcome": "OVERTURNED",
    }
    [reinstated] = _events(db, Topic.USER_REINSTATED, str(member))
    assert reinstated["aggregate_version"] == 2
    assert reinstated["payload"] == {"user_id": str(member), "action_id": action_id}
    variables = {"r": [{"__typename": "User", "id": str(member)}]}
    own = _ok(await gql(client, ACTIONS, variables, token=token))
    [node] = [edge["node"] for edge in own["_entities"][0]["moderationActions"]["edges"]]
    assert node == {
        "id": action_id,
        "action": "BAN",
        "overturned": True,
        "appeal": {"id": appeal_id, "status": "OVERTURNED"},
    }
    status = _ok(await gql(client, STATUS, variables, token=token))
    assert status["_entities"][0]["moderationStatus"]["status"] == "ACTIVE"


async def test_an_upheld_appeal_leaves_the_action_and_dismissals_cannot_be_appealed(
    new_member: NewMember,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    db: Any,
    acting: Acting,
) -> None:
    member, case_id = await reported(new_member, client, issuer, db)
    token = issuer.access_token(member)
    action_id = _ok(await act(client, acting.act, case_id, "SUSPEND", u=_in(3600)))[
        "takeModerationAction"
    ]["id"]
    appeal_id = _ok(await gql(client, APPEAL, {"a": action_id, "t": "Sorry"}, token=token))[
        "appealAction"
    ]["id"]
    _ok(await gql(client, DECIDE, {"a": appeal_id, "o": "UPHELD"}, token=acting.decide))
    [outcome] = _events(db, Topic.MODERATION_APPEAL_DECIDED, action_id)
    assert outcome["payload"]["outcome"] == "UPHELD"
    assert _events(db, Topic.USER_REINSTATED, str(member)) == []

    _ok(await report(client, issuer.access_token(uuid.uuid4()), member))
    dismissed = _ok(await act(client, acting.act, await case_of(db, member), "DISMISS"))
    body = await gql(
        client, APPEAL, {"a": dismissed["takeModerationAction"]["id"], "t": "x"}, token=token
    )
    _refused(body, "BAD_USER_INPUT", "actionId")


MINE = """
{ myModerationStatus { status until reason }
  myModerationActions { edges { node { id action reason appeal { id status } } } } }"""


async def test_a_banned_members_appeal_token_reads_their_actions_and_appeals_only(
    new_member: NewMember,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    staff_issuer: TokenIssuer,
    db: Any,
    acting: Acting,
) -> None:
    member, case_id = await reported(new_member, client, issuer, db)
    ban = _ok(await act(client, acting.act, case_id, "BAN"))["takeModerationAction"]
    appeal_token = issuer.appeal_token(member)  # what `login` answers the banned member

    mine = _ok(await gql(client, MINE, token=appeal_token))
    assert mine["myModerationStatus"] == {
        "status": "BANNED",
        "until": None,
        "reason": "Abusive messages",
    }
    [action] = [edge["node"] for edge in mine["myModerationActions"]["edges"]]
    assert action == {
        "id": ban["id"],
        "action": "BAN",
        "reason": "Abusive messages",
        "appeal": None,
    }
    # The member's own `User` fields take it too (as the gateway reaches them), not others'.
    own = {"r": [{"__typename": "User", "id": str(member)}]}
    status = _ok(await gql(client, STATUS, own, token=appeal_token))["_entities"][0]
    assert status["moderationStatus"]["status"] == "BANNED"
    someone = {"r": [{"__typename": "User", "id": str(await new_member())}]}
    _refused(await gql(client, ACTIONS, someone, token=appeal_token), "FORBIDDEN")

    # Every other field answers it UNAUTHENTICATED, saying what it is for.
    for query, variables in (
        (MY_REPORTS, {}),
        (REPORT, {"u": str(await new_member()), "r": "SPAM"}),
        (APPEALS, {}),
    ):
        refused = await gql(client, query, variables, token=appeal_token)
        assert _refused(refused, "UNAUTHENTICATED") == {
            "code": "UNAUTHENTICATED",
            "reason": "APPEAL_ONLY",
        }
        assert "only lets a banned member appeal" in refused["errors"][0]["message"]
    # A staff issuer's appeal token is no token at all.
    forged = staff_issuer.appeal_token(member)
    _refused(await gql(client, APPEAL, {"a": ban["id"], "t": "x"}, token=forged), "UNAUTHENTICATED")

    appealed = await gql(client, APPEAL, {"a": ban["id"], "t": "Not me"}, token=appeal_token)
    appeal = _ok(appealed)["appealAction"]
    assert appeal["status"] == "PENDING" and appeal["actionId"] == ban["id"]
    mine = _ok(await gql(client, MINE, token=appeal_token))
    [action] = [edge["node"] for edge in mine["myModerationActions"]["edges"]]
    assert action["appeal"] == {"id": appeal["id"], "status": "PENDING"}
    _refused(
        await gql(client, APPEAL, {"a": ban["id"], "t": "Again"}, token=appeal_token), "CONFLICT"
    )


async def test_my_standing_and_actions_are_the_callers_own_by_an_access_token_too(
    new_member: NewMember, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any, acting: Acting
) -> None:
    member, case_id = await reported(new_member, client, issuer, db)
    warned = _ok(await act(client, acting.act, case_id, "WARN"))["takeModerationAction"]
    mine = _ok(await gql(client, MINE, token=issuer.access_token(member)))
    assert mine["myModerationStatus"] == {"status": "ACTIVE", "until": None, "reason": None}
    assert [e["node"]["id"] for e in mine["myModerationActions"]["edges"]] == [warned["id"]]
    stranger = _ok(await gql(client, MINE, token=issuer.access_token(uuid.uuid4())))
    assert stranger["myModerationActions"]["edges"] == []
    _refused(await gql(client, "{ myModerationStatus { status } }"), "UNAUTHENTICATED")


# -- screening --------------------------------------------------------------------------


def message_sent(sender: uuid.UUID, text: str, message_id: uuid.UUID | None = None) -> Event:
    conversation_id = uuid.uuid4()
    payload = {
        "message_id": str(message_id or uuid.uuid4()),
        "conversation_id": str(conversation_id),
        "sender_id": str(sender),
        "recipient_ids": [str(uuid.uuid4())],
        "offline_recipient_ids": [],
        "text": text,
        "created_at": datetime.now(UTC).isoformat(),
    }
    return Event(
        topic=Topic.MESSAGE_SENT,
        aggregate_id=str(conversation_id),
        aggregate_version=2,
        payload=payload,
    )


async def test_a_screened_message_raises_a_case_with_the_evidence_once(
    moderation_served: Served,
    new_member: NewMember,
    client: httpx.AsyncClient,
    db: Any,
    moderator: str,
) -> None:
    sender = await new_member()
    await handle(moderation_served, handlers.HANDLERS, message_sent(sender, "See you at 8!"))
    assert _count(db, "SELECT count(*) FROM cases WHERE user_id = %s", sender) == 0

    message_id = uuid.uuid4()
    event = message_sent(sender, "just K Y S, n0body likes y0u", message_id)
    await handle(moderation_served, handlers.HANDLERS, event)
    # The same message again (a redelivery under a new event id) raises nothing new.
    again = dataclasses.replace(event, event_id=uuid.uuid4())
    await handle(moderation_served, handlers.HANDLERS, again)
    case_id = await case_of(db, sender)
    case = _ok(await gql(client, CASE, {"id": case_id}, token=moderator))["moderationCase"]
    assert case["status"] == "OPEN"
    assert [edge["node"] for edge in case["flags"]["edges"]] == [
        {
            "source": "MESSAGE",
            "terms": ["kys"],
            "text": "just K Y S, n0body likes y0u",
            "conversationId": event.payload["conversation_id"],
            "messageId": str(message_id),
        }
    ]


async def test_a_screened_bio_raises_a_case_once_per_bio_text(
    moderation_served: Served,
    new_member: NewMember,
    client: httpx.AsyncClient,
    db: Any,
    moderator: str,
) -> None:
    member = await new_member()
    await handle(moderation_served, handlers.HANDLERS, profile_updated(member, "Tea lover", 2))
    await handle(moderation_served, handlers.HANDLERS, profile_updated(member, None, 3))
    assert _count(db, "SELECT count(*) FROM flags WHERE user_id = %s", member) == 0
    for version in (4, 5):  # the same bio at a later version (another field changed)
        bio = "Ask me anything, b.i.t.c.h"
        await handle(moderation_served, handlers.HANDLERS, profile_updated(member, bio, version))
    case = _ok(await gql(client, CASE, {"id": await case_of(db, member)}, token=moderator))
    [flag] = [edge["node"] for edge in case["moderationCase"]["flags"]["edges"]]
    assert flag["source"] == "PROFILE_BIO"
    assert flag["terms"] == ["bitch"]
    assert flag["messageId"] is None


# -- effects elsewhere ------------------------------------------------------------------


def suspended_event(member: uuid.UUID, *, until: datetime | None, version: int) -> Event:
    return Event(
        topic=Topic.USER_SUSPENDED,
        aggregate_id=str(member),
        aggregate_version=version,
        payload={
            "user_id": str(member),
            "until": until.isoformat() if until else None,
            "reason": "Abusive messages",
            "action_id": str(uuid.uuid4()),
            "case_id": str(uuid.uuid4()),
        },
    )


def reinstated_event(member: uuid.UUID, *, version: int) -> Event:
    return Event(
        topic=Topic.USER_REINSTATED,
        aggregate_id=str(member),
        aggregate_version=version,
        payload={"user_id": str(member), "action_id": None},
    )


SNAPSHOT = {
    "birthdate": date(1995, 5, 5),
    "gender": "WOMAN",
    "latitude": None,
    "longitude": None,
    "interests": [],
    "languages": ["en"],
}


async def _queued(served: Served, member: uuid.UUID) -> bool:
    [entry] = await queuing_service.entries(served.platform.db, [member])
    return entry is not None


async def test_queuing_drops_a_suspended_member_and_refuses_them_until_reinstated(
    queuing_served: Served,
) -> None:
    member, db = uuid.uuid4(), queuing_served.platform.db
    async with db.session() as session, session.begin():
        await queuing_service.join(session, user_id=member, version=1, snapshot=SNAPSHOT)
    until = datetime.now(UTC) + timedelta(hours=1)
    await handle(queuing_served, QUEUING_HANDLERS, suspended_event(member, until=until, version=1))
    assert not await _queued(queuing_served, member)
    with pytest.raises(Forbidden) as refused:
        async with db.session() as session, session.begin():
            await queuing_service.join(session, user_id=member, version=1, snapshot=SNAPSHOT)
    assert refused.value.extensions["reason"] == "SUSPENDED"
    assert refused.value.extensions["until"] == until.isoformat()
    assert until.isoformat() in refused.value.message

    # A stale suspension (version 1 again, after the reinstatement) takes nobody out.
    await handle(queuing_served, QUEUING_HANDLERS, reinstated_event(member, version=2))
    async with db.session() as session, session.begin():
        await queuing_service.join(session, user_id=member, version=1, snapshot=SNAPSHOT)
    stale = suspended_event(member, until=until, version=1)
    await handle(queuing_served, QUEUING_HANDLERS, stale)
    assert await _queued(queuing_served, member)


async def test_communication_keeps_the_suspensions_read_model() -> None:
    assert COMMUNICATION_HANDLERS[Topic.USER_SUSPENDED] is member_state.on_user_suspended
    assert COMMUNICATION_HANDLERS[Topic.USER_REINSTATED] is member_state.on_user_reinstated


LOGIN = """
mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"""
REFRESH = "mutation($t: String!) { refreshToken(refreshToken: $t) { refreshToken } }"


async def test_a_banned_member_cannot_sign_in_and_a_suspended_one_can(
    user_served: Served,
) -> None:
    client = user_served.client
    member = await register(client)
    member_id = uuid.UUID(member.id)
    credentials = {"e": member.email, "p": member.password}
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)
    await handle(
        user_served, USER_HANDLERS, suspended_event(member_id, until=in_an_hour, version=1)
    )
    _ok(await gql(client, LOGIN, credentials))

    await handle(user_served, USER_HANDLERS, suspended_event(member_id, until=None, version=2))
    assert _refused(await gql(client, LOGIN, credentials), "FORBIDDEN")["reason"] == "BANNED"
    body = await gql(client, REFRESH, {"t": member.refresh_token})
    assert _refused(body, "FORBIDDEN")["reason"] == "BANNED"
    # The wrong password still says only that.
    wrong = await gql(client, LOGIN, {**credentials, "p": "not the password"})
    _refused(wrong, "UNAUTHENTICATED")

    await handle(user_served, USER_HANDLERS, reinstated_event(member_id, version=3))
    _ok(await gql(client, LOGIN, credentials))
    # The refused refresh left the token unspent.
    _ok(await gql(client, REFRESH, {"t": member.refresh_token}))
