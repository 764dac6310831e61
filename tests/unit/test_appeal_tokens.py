"""Appeal tokens: what `login` hands a banned member with the right password. They verify
as appeal-only identities of the member, from the members' issuer only, and every way of
reading the caller refuses them unless it opts in (`appeal=True`)."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import jwt
import pytest
import strawberry

from kindred.auth import APPEAL_TOKEN_TTL_SECONDS, Identity
from kindred.context import APPEAL_ONLY, RequestContext
from kindred.errors import Unauthenticated
from kindred.graphql import build_schema
from kindred.staff import Scope, staff_field
from tests.unit.issuers import MEMBERS, STAFF, signed, verifier, verify

# -- verification ---------------------------------------------------------------------------


def test_an_appeal_token_verifies_as_appeal_only_for_its_member() -> None:
    member = uuid.uuid4()
    token = MEMBERS.appeal_token(member)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["typ"] == "appeal" and claims["sub"] == str(member)
    assert claims["iss"] == "kindred-user" and claims["aud"] == "kindred" and claims["jti"]
    assert claims["exp"] - claims["iat"] == APPEAL_TOKEN_TTL_SECONDS == 15 * 60
    assert jwt.get_unverified_header(token)["kid"] == MEMBERS.kid_str
    identity = verify(token)
    assert identity == Identity(user_id=str(member), appeal_only=True)
    assert not verify(MEMBERS.access_token(member)).appeal_only


def test_the_verified_token_cache_keeps_each_kind() -> None:
    checker, member = verifier(), uuid.uuid4()
    appeal, access = MEMBERS.appeal_token(member), MEMBERS.access_token(member)

    async def scenario() -> None:
        first = await checker.verify(appeal)
        assert (await checker.verify(access)).appeal_only is False
        remembered = await checker.verify(appeal)
        assert remembered is first and remembered.appeal_only
        assert (await checker.verify(access)).appeal_only is False

    asyncio.run(scenario())


def test_a_staff_issuers_appeal_token_is_refused() -> None:
    with pytest.raises(Unauthenticated, match="Only a member's token may be an appeal token"):
        verify(STAFF.appeal_token(uuid.uuid4()))


def test_an_expired_appeal_token_is_refused() -> None:
    sixteen_minutes_ago = datetime.now(UTC) - timedelta(minutes=16)
    with pytest.raises(Unauthenticated, match="expired"):
        verify(MEMBERS.appeal_token(uuid.uuid4(), now=sixteen_minutes_ago))


@pytest.mark.parametrize("typ", ["refresh", "Appeal", "", None])
def test_a_token_of_another_type_is_refused(typ: str | None) -> None:
    with pytest.raises(Unauthenticated, match="not an access token"):
        verify(signed(MEMBERS, {"typ": typ}))


def test_an_appeal_token_lives_fifteen_minutes_at_most() -> None:
    long_lived = signed(MEMBERS, {"typ": "appeal"}, ttl=APPEAL_TOKEN_TTL_SECONDS + 60)
    with pytest.raises(Unauthenticated, match=f"at most {APPEAL_TOKEN_TTL_SECONDS} seconds"):
        verify(long_lived)


# -- where it is accepted ---------------------------------------------------------------------

APPELLANT = Identity(user_id=str(uuid.uuid4()), appeal_only=True)
MEMBER = Identity(user_id=str(uuid.uuid4()))


def _context(identity: Identity | None) -> RequestContext:
    return RequestContext(request=None, platform=cast(Any, None), identity=identity)


def test_the_caller_is_never_an_appeal_token_unless_asked_for() -> None:
    context = _context(APPELLANT)
    for read in (
        context.require_identity,
        context.caller_id,
        lambda: context.require_self(APPELLANT.user_id, what="actions"),
        lambda: context.require_scope(Scope.MEMBERS_READ, what="read members"),
    ):
        with pytest.raises(Unauthenticated) as refused:
            read()
        assert refused.value.message == APPEAL_ONLY
        assert refused.value.extensions == {"code": "UNAUTHENTICATED", "reason": "APPEAL_ONLY"}


def test_the_opt_in_takes_an_appeal_token_and_an_access_token() -> None:
    for identity in (APPELLANT, MEMBER):
        context = _context(identity)
        assert context.require_identity(appeal=True) is identity
        assert context.caller_id(appeal=True) == uuid.UUID(identity.user_id)
        assert context.require_self(identity.user_id, what="actions", appeal=True) == uuid.UUID(
            identity.user_id
        )
    # An access token is the caller everywhere, as before.
    assert _context(MEMBER).caller_id() == uuid.UUID(MEMBER.user_id)
    with pytest.raises(Unauthenticated, match="Sign in first"):
        _context(None).caller_id(appeal=True)


@strawberry.type
class Query:
    @staff_field(scopes=[Scope.CASES_READ], description="A staff-only figure.")
    async def cases(self) -> int:
        return 3


def test_a_staff_field_refuses_an_appeal_token_as_unauthenticated() -> None:
    result = asyncio.run(
        build_schema(query=Query).execute("{ cases }", context_value=_context(APPELLANT))
    )
    [error] = result.errors or []
    assert error.message == APPEAL_ONLY
    assert error.extensions == {"code": "UNAUTHENTICATED", "reason": "APPEAL_ONLY"}
