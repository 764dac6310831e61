"""Staff tokens: their own issuer and keys, scopes only for staff, staff-only fields."""

import asyncio
import uuid
from typing import Any, cast

import pytest
import strawberry
from cryptography.hazmat.primitives.asymmetric import ec

from kindred.auth import Identity, TokenVerifier
from kindred.context import RequestContext
from kindred.credentials import TokenIssuer
from kindred.errors import Unauthenticated
from kindred.graphql import build_schema
from kindred.staff import Role, Scope, scopes_for, staff_field


def _issuer(name: str) -> TokenIssuer:
    return TokenIssuer(ec.generate_private_key(ec.SECP256R1()), issuer=name, ttl_seconds=60)


MEMBERS = _issuer("kindred-user")
STAFF = _issuer("kindred-admin")


def _verifier() -> TokenVerifier:
    def keys(issuer: TokenIssuer) -> Any:
        async def jwks() -> dict[str, Any]:
            return issuer.jwks()

        return jwks

    return TokenVerifier(
        {"kindred-user": keys(MEMBERS), "kindred-admin": keys(STAFF)},
        staff_issuers=["kindred-admin"],
        min_refresh_interval=0,
    )


def _verify(token: str) -> Identity:
    return asyncio.run(_verifier().verify(token))


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
    identity = _verify(token)
    assert identity.staff and identity.user_id == str(staff_id)
    assert identity.roles == {"support"}
    assert identity.scopes == {"members:read", "cases:read"}


def test_a_member_token_is_not_staff_and_may_not_claim_scopes() -> None:
    assert not _verify(MEMBERS.access_token(uuid.uuid4())).staff
    with pytest.raises(Unauthenticated, match="no scopes"):
        _verify(MEMBERS.access_token(uuid.uuid4(), scopes=["analytics:read"]))


def test_the_member_key_cannot_sign_for_the_staff_issuer() -> None:
    forged = TokenIssuer(MEMBERS._key, issuer="kindred-admin", ttl_seconds=60)
    with pytest.raises(Unauthenticated, match="unknown key"):
        _verify(forged.access_token(uuid.uuid4(), scopes=["staff:manage"]))


def test_an_unknown_issuer_is_refused() -> None:
    with pytest.raises(Unauthenticated, match="issuer"):
        _verify(_issuer("someone-else").access_token(uuid.uuid4()))


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
