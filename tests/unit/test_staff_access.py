"""Staff tokens: their own issuer and keys, scopes only for staff, staff-only fields; action
tokens (an audit entry's, a minute long) and the audited mutations that take only them."""

import asyncio
import uuid
from typing import Any, cast

import jwt
import pytest
import strawberry

from kindred.auth import (
    ACTION_CLAIM,
    ACTION_TOKEN_TTL_SECONDS,
    AUDIT_CLAIM,
    Identity,
)
from kindred.context import RequestContext
from kindred.credentials import TokenIssuer
from kindred.errors import Unauthenticated
from kindred.graphql import build_schema
from kindred.staff import Role, Scope, scopes_for, staff_field, staff_mutation
from tests.unit.issuers import MEMBERS, STAFF, issuer, signed, verify


def test_roles_grant_their_scopes() -> None:
    assert scopes_for([Role.SUPPORT]) == {
        Scope.MEMBERS_READ,
        Scope.CASES_READ,
        Scope.BILLING_REFUND,
    }
    assert Scope.CASES_ACT in scopes_for(["moderator"])
    assert Scope.BILLING_REFUND not in scopes_for(["moderator"])
    assert scopes_for([Role.ADMIN]) == set(Scope)


def test_a_staff_token_names_staff_and_their_scopes() -> None:
    staff_id = uuid.uuid4()
    token = STAFF.access_token(staff_id, roles=["support"], scopes=["members:read", "cases:read"])
    identity = verify(token)
    assert identity.staff and identity.user_id == str(staff_id)
    assert identity.roles == {"support"}
    assert identity.scopes == {"members:read", "cases:read"}


def test_a_member_token_is_not_staff_and_may_not_claim_scopes() -> None:
    assert not verify(MEMBERS.access_token(uuid.uuid4())).staff
    with pytest.raises(Unauthenticated, match="no scopes"):
        verify(MEMBERS.access_token(uuid.uuid4(), scopes=["analytics:read"]))


def test_the_member_key_cannot_sign_for_the_staff_issuer() -> None:
    forged = TokenIssuer(MEMBERS._key, issuer="kindred-admin", ttl_seconds=60)
    with pytest.raises(Unauthenticated, match="unknown key"):
        verify(forged.access_token(uuid.uuid4(), scopes=["staff:manage"]))


def test_an_unknown_issuer_is_refused() -> None:
    with pytest.raises(Unauthenticated, match="issuer"):
        verify(issuer("someone-else").access_token(uuid.uuid4()))


@strawberry.type
class Query:
    @staff_field(scopes=[Scope.ANALYTICS_READ], description="A figure only analysts may read.")
    async def secret(self) -> int:
        return 42

    @strawberry.field(description="A figure anyone may read.")
    def public(self) -> int:
        return 1


SCHEMA = build_schema(query=Query)


def _ask(identity: Identity | None) -> Any:
    context = RequestContext(request=None, platform=cast(Any, None), identity=identity)
    return asyncio.run(SCHEMA.execute("{ secret }", context_value=context))


def test_a_staff_field_says_so_in_the_schema() -> None:
    sdl = SCHEMA.as_str()
    assert 'secret: Int! @authenticated @requiresScopes(scopes: [["analytics:read"]])' in sdl
    assert "public: Int!\n" in sdl


@pytest.mark.parametrize(
    ("identity", "refusal"),
    [
        (None, "Sign in first"),
        (Identity(user_id="m"), "Only staff can use `secret`"),
        (
            Identity(user_id="s", staff=True, scopes=frozenset({"members:read"})),
            "analytics:read scope",
        ),
    ],
)
def test_a_staff_field_refuses_everyone_else(identity: Identity | None, refusal: str) -> None:
    result = _ask(identity)
    assert result.data is None
    assert result.errors is not None and refusal in result.errors[0].message


def test_a_staff_field_answers_staff_with_the_scope() -> None:
    staff = Identity(user_id="s", staff=True, scopes=frozenset({"analytics:read"}))
    result = _ask(staff)
    assert result.errors is None and result.data == {"secret": 42}


# -- action tokens and audited mutations ------------------------------------------------------


def test_an_action_token_names_its_audit_entry_and_only_its_scope() -> None:
    staff_id, audit_id = uuid.uuid4(), uuid.uuid4()
    token = STAFF.action_token(
        staff_id, scopes=["cases:act"], audit_id=audit_id, mutation="takeModerationAction"
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims[AUDIT_CLAIM] == str(audit_id) and "roles" not in claims
    assert claims[ACTION_CLAIM] == "takeModerationAction"
    assert claims["exp"] - claims["iat"] == ACTION_TOKEN_TTL_SECONDS
    identity = verify(token)
    assert identity.staff and identity.user_id == str(staff_id)
    assert identity.scopes == {"cases:act"} and identity.audit_id == str(audit_id)
    assert identity.action == "takeModerationAction"
    # A staff member's own token names no audit entry and no mutation.
    own = verify(STAFF.access_token(staff_id, scopes=["cases:act"]))
    assert own.audit_id is None and own.action is None
    with pytest.raises(ValueError, match="scope"):
        STAFF.action_token(staff_id, scopes=[], audit_id=audit_id, mutation="startCaseReview")
    with pytest.raises(ValueError, match="mutation"):
        STAFF.action_token(staff_id, scopes=["cases:act"], audit_id=audit_id, mutation="")


def test_only_an_action_token_names_a_mutation_and_it_must() -> None:
    with pytest.raises(Unauthenticated, match="Only an action token"):
        verify(signed(STAFF, {"scope": "cases:act", ACTION_CLAIM: "startCaseReview"}))
    with pytest.raises(Unauthenticated, match="names the one mutation"):
        verify(signed(STAFF, {"scope": "cases:act", AUDIT_CLAIM: "entry"}))
    with pytest.raises(Unauthenticated, match="names the one mutation"):
        verify(signed(STAFF, {"scope": "cases:act", AUDIT_CLAIM: "entry", ACTION_CLAIM: 3}))


def test_a_member_token_may_not_name_an_audit_entry() -> None:
    with pytest.raises(Unauthenticated, match="names no audit entry"):
        verify(signed(MEMBERS, {AUDIT_CLAIM: str(uuid.uuid4())}))


@pytest.mark.parametrize("value", ["", "  ", 7, ["a"]])
def test_a_malformed_audit_claim_is_refused(value: Any) -> None:
    with pytest.raises(Unauthenticated, match="malformed"):
        verify(signed(STAFF, {"scope": "cases:act", AUDIT_CLAIM: value}))


def test_an_action_token_lives_a_minute_at_most() -> None:
    long_lived = signed(STAFF, {"scope": "cases:act", AUDIT_CLAIM: "entry"}, ttl=3600)
    with pytest.raises(Unauthenticated, match="at most 60 seconds"):
        verify(long_lived)


@strawberry.type
class Actions:
    @staff_mutation(
        scopes=[Scope.CASES_ACT], audited_via="actOnCase", description="Acts on a case."
    )
    async def act(self) -> int:
        return 1


AUDITED = build_schema(query=Query, mutation=Actions)


def _act(identity: Identity | None) -> Any:
    context = RequestContext(request=None, platform=cast(Any, None), identity=identity)
    return asyncio.run(AUDITED.execute("mutation { act }", context_value=context))


def test_an_audited_mutation_says_so_in_the_schema() -> None:
    sdl = AUDITED.as_str()
    assert 'act: Int! @authenticated @requiresScopes(scopes: [["cases:act"]])' in sdl
    assert "Acts on a case. Audited: staff use the admin subgraph's `actOnCase`" in sdl


@pytest.mark.parametrize(
    ("identity", "refusal"),
    [
        (None, "Sign in first"),
        (Identity(user_id="m"), "Only staff can use `act`"),
        (Identity(user_id="s", staff=True, scopes=frozenset({"cases:act"})), "`actOnCase`"),
        (
            Identity(user_id="s", staff=True, scopes=frozenset({"cases:read"}), audit_id="a"),
            "cases:act scope",
        ),
    ],
)
def test_an_audited_mutation_refuses_all_but_an_action_token(
    identity: Identity | None, refusal: str
) -> None:
    result = _act(identity)
    assert result.data is None
    assert result.errors is not None and refusal in result.errors[0].message


def test_a_staff_token_without_an_audit_entry_is_sent_to_the_admin_subgraph() -> None:
    staff = Identity(user_id="s", staff=True, scopes=frozenset({"cases:act"}))
    [error] = _act(staff).errors or []
    assert error.extensions == {"code": "FORBIDDEN", "reason": "NOT_AUDITED", "via": "actOnCase"}
    assert "which writes them to the audit log" in error.message


def _action_token_for(mutation: str) -> Identity:
    return Identity(
        user_id="s", staff=True, scopes=frozenset({"cases:act"}), audit_id="a", action=mutation
    )


def test_an_audited_mutation_answers_an_action_token_for_it() -> None:
    result = _act(_action_token_for("act"))
    assert result.errors is None and result.data == {"act": 1}


def test_an_audited_mutation_refuses_an_action_token_for_another() -> None:
    [error] = _act(_action_token_for("startCaseReview")).errors or []
    assert error.extensions == {"code": "FORBIDDEN", "reason": "WRONG_ACTION", "via": "actOnCase"}
    assert "for `startCaseReview`, not `act`" in error.message
