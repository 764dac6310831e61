"""The user subgraph's contract: its SDL, `_entities` by `id`, who may see what, and the
appeal token a banned member gets instead of a session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt

from kindred.auth import APPEAL_TOKEN_TTL_SECONDS, Identity
from kindred.credentials import TokenIssuer
from kindred.events import Event
from kindred.sdl import export, subgraph_sdl_files
from kindred.staff import Role
from kindred.topics import Topic
from subgraphs.user.handlers import HANDLERS
from tests.contract.conftest import Served
from tests.support import error_codes, fresh_address, gql, register, staff_token

ENTITIES = """
query($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on User { id displayName version } }
}"""


async def test_the_served_sdl_is_the_committed_one(user_subgraph: httpx.AsyncClient) -> None:
    body = await gql(user_subgraph, "{ _service { sdl } }")
    committed = subgraph_sdl_files()["user"].read_text()
    assert body["data"]["_service"]["sdl"].rstrip() == committed.rstrip()
    assert export("user") == committed, "run `make compose` to refresh the SDL"
    assert '@key(fields: "id")' in committed


async def test_entities_resolve_users_by_id_in_order(user_subgraph: httpx.AsyncClient) -> None:
    first = await register(user_subgraph, displayName="First")
    second = await register(user_subgraph, displayName="Second")
    unknown = str(uuid.uuid4())
    representations = [{"__typename": "User", "id": id_} for id_ in (second.id, unknown, first.id)]
    body = await gql(
        user_subgraph, ENTITIES, {"representations": representations}, token=first.access_token
    )
    assert "errors" not in body, body
    assert body["data"]["_entities"] == [
        {"id": second.id, "displayName": "Second", "version": 1},
        None,
        {"id": first.id, "displayName": "First", "version": 1},
    ]


async def test_entities_need_a_signed_in_caller(user_subgraph: httpx.AsyncClient) -> None:
    member = await register(user_subgraph)
    body = await gql(
        user_subgraph, ENTITIES, {"representations": [{"__typename": "User", "id": member.id}]}
    )
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_me_needs_a_valid_token(user_subgraph: httpx.AsyncClient) -> None:
    assert error_codes(await gql(user_subgraph, "{ me { id } }")) == ["UNAUTHENTICATED"]
    assert error_codes(await gql(user_subgraph, "{ me { id } }", token="not.a.jwt")) == [
        "UNAUTHENTICATED"
    ]


async def test_private_fields_are_the_members_own(user_subgraph: httpx.AsyncClient) -> None:
    owner = await register(user_subgraph)
    other = await register(user_subgraph)
    private = ("email", "birthdate", "location { latitude }", "preferences { minAge }")
    fields = " ".join(private)
    query = f"query($id: ID!) {{ user(id: $id) {{ displayName age {fields} }} }}"
    mine = await gql(user_subgraph, query, {"id": owner.id}, token=owner.access_token)
    assert "errors" not in mine, mine
    assert mine["data"]["user"]["email"] == owner.email
    assert mine["data"]["user"]["birthdate"] == "1994-03-02"
    assert mine["data"]["user"]["preferences"] == {"minAge": 18}

    theirs = await gql(user_subgraph, query, {"id": owner.id}, token=other.access_token)
    assert error_codes(theirs) == ["FORBIDDEN"] * 4
    assert sorted(e["extensions"]["field"] for e in theirs["errors"]) == [
        "birthdate",
        "email",
        "location",
        "preferences",
    ]
    # The public part of the profile still arrives.
    assert theirs["data"]["user"]["displayName"] == "Robin"
    assert theirs["data"]["user"]["age"] > 18
    assert theirs["data"]["user"]["location"] is None


async def test_update_profile_needs_a_signed_in_caller(user_subgraph: httpx.AsyncClient) -> None:
    body = await gql(
        user_subgraph, 'mutation { updateProfile(expectedVersion: 1, input: {bio: "x"}) { id } }'
    )
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_the_jwks_verifies_the_tokens_it_issues(
    user_subgraph: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    member = await register(user_subgraph)
    jwks = (await user_subgraph.get("/.well-known/jwks.json")).json()
    [key] = jwks["keys"]
    assert key["kid"] == jwt.get_unverified_header(member.access_token)["kid"] == issuer.kid_str
    claims = jwt.decode(
        member.access_token, jwt.PyJWK(key), algorithms=["ES256"], audience="kindred"
    )
    assert claims["sub"] == member.id
    assert claims["typ"] == "access"


async def test_health_checks_database_broker_and_cache(user_subgraph: httpx.AsyncClient) -> None:
    response = await user_subgraph.get("/health")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "cache": "ok"}


def test_the_committed_sdl_file_exists_where_supergraph_yaml_says() -> None:
    assert subgraph_sdl_files()["user"] == Path("subgraphs/user/schema.graphql").resolve()


async def _block(served: Served, actor: str, target: str, *, blocked: bool, version: int) -> None:
    """`interaction.recorded` through the user subgraph's handler, in a unit of work."""
    event = Event(
        topic=Topic.INTERACTION_RECORDED,
        aggregate_id=actor,
        aggregate_version=version,
        payload={
            "actor_id": actor,
            "target_id": target,
            "kind": "BLOCK" if blocked else "UNBLOCK",
            "version": version,
            "blocked": blocked,
            "pass_until": None,
            "match_id": None,
            "rating": None,
            "occurred_at": datetime.now(UTC).isoformat(),
        },
    )
    for _ in range(2):  # a repeat changes nothing
        async with served.platform.db.unit_of_work() as uow:
            await HANDLERS[Topic.INTERACTION_RECORDED](uow, event)
            await uow.commit()


async def test_a_block_hides_both_members_from_user_by_id_but_not_from_entities(
    user_served: Served, user_subgraph: httpx.AsyncClient
) -> None:
    blocker = await register(user_subgraph, displayName="Blocker")
    blocked = await register(user_subgraph, displayName="Blocked")
    query = "query($id: ID!) { user(id: $id) { displayName } }"
    await _block(user_served, blocker.id, blocked.id, blocked=True, version=1)
    for caller, other in ((blocked, blocker), (blocker, blocked)):
        body = await gql(user_subgraph, query, {"id": other.id}, token=caller.access_token)
        assert error_codes(body) == ["NOT_FOUND"]
        assert body["errors"][0]["message"] == "No such user."  # as for an unknown id
    own = await gql(user_subgraph, query, {"id": blocker.id}, token=blocker.access_token)
    assert own["data"]["user"] == {"displayName": "Blocker"}
    # The gateway still resolves the blocked member in the blocker's own lists.
    representations = [{"__typename": "User", "id": blocked.id}]
    entities = await gql(
        user_subgraph, ENTITIES, {"representations": representations}, token=blocker.access_token
    )
    assert entities["data"]["_entities"][0]["displayName"] == "Blocked"
    await _block(user_served, blocker.id, blocked.id, blocked=False, version=2)
    body = await gql(user_subgraph, query, {"id": blocker.id}, token=blocked.access_token)
    assert body["data"]["user"] == {"displayName": "Blocker"}


# -- staff reads -------------------------------------------------------------------------

STAFF_MEMBER = "query($id: ID!) { staffMember(id: $id) { id email displayName state deletedAt } }"
STAFF_SEARCH = """
query($e: String!, $first: Int, $after: String) {
  staffMemberSearch(email: $e, first: $first, after: $after) {
    edges { node { id email state } } pageInfo { hasNextPage endCursor }
  }
}"""


async def test_staff_read_members_accounts_and_members_never_do(
    user_subgraph: httpx.AsyncClient, issuer: TokenIssuer, staff_issuer: TokenIssuer
) -> None:
    tag = uuid.uuid4().hex[:10]
    first = await register(user_subgraph, email=f"s-{tag}-a@example.com")
    second = await register(user_subgraph, email=f"s-{tag}-b@example.com")
    support = staff_token(staff_issuer, Role.SUPPORT)

    for token, code in ((None, "UNAUTHENTICATED"), (first.access_token, "FORBIDDEN")):
        for query, variables in ((STAFF_MEMBER, {"id": first.id}), (STAFF_SEARCH, {"e": tag})):
            body = await gql(user_subgraph, query, variables, token=token)
            assert error_codes(body) == [code], body

    body = await gql(user_subgraph, STAFF_MEMBER, {"id": first.id}, token=support)
    assert body["data"]["staffMember"] == {
        "id": first.id,
        "email": f"s-{tag}-a@example.com",
        "displayName": "Robin",
        "state": "ACTIVE",
        "deletedAt": None,
    }
    unknown = await gql(user_subgraph, STAFF_MEMBER, {"id": str(uuid.uuid4())}, token=support)
    assert error_codes(unknown) == ["NOT_FOUND"], unknown

    page = await gql(user_subgraph, STAFF_SEARCH, {"e": f"S-{tag}", "first": 1}, token=support)
    connection = page["data"]["staffMemberSearch"]
    assert [edge["node"]["id"] for edge in connection["edges"]] == [second.id]
    after = connection["pageInfo"]["endCursor"]
    rest = await gql(user_subgraph, STAFF_SEARCH, {"e": f"s-{tag}", "after": after}, token=support)
    assert [edge["node"]["id"] for edge in rest["data"]["staffMemberSearch"]["edges"]] == [first.id]
    # LIKE's wildcards are searched for as themselves.
    wild = await gql(user_subgraph, STAFF_SEARCH, {"e": "%"}, token=support)
    assert wild["data"]["staffMemberSearch"]["edges"] == []
    blank = await gql(user_subgraph, STAFF_SEARCH, {"e": " "}, token=support)
    assert error_codes(blank) == ["BAD_USER_INPUT"], blank

    closed = await gql(user_subgraph, "mutation { deleteAccount }", token=first.access_token)
    assert closed["data"] == {"deleteAccount": True}, closed
    body = await gql(user_subgraph, STAFF_MEMBER, {"id": first.id}, token=support)
    assert body["data"]["staffMember"]["state"] == "DELETED"
    assert body["data"]["staffMember"]["deletedAt"] is not None


# -- a banned member's appeal token -----------------------------------------------------------

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"
REFRESH = "mutation($t: String!) { refreshToken(refreshToken: $t) { refreshToken } }"


async def _ban(served: Served, member: str) -> None:
    """`user.suspended` without an end (a ban) through the user subgraph's handler."""
    event = Event(
        topic=Topic.USER_SUSPENDED,
        aggregate_id=member,
        aggregate_version=1,
        payload={
            "user_id": member,
            "until": None,
            "reason": "Abusive messages",
            "action_id": str(uuid.uuid4()),
            "case_id": str(uuid.uuid4()),
        },
    )
    async with served.platform.db.unit_of_work() as uow:
        await HANDLERS[Topic.USER_SUSPENDED](uow, event)
        await uow.commit()


async def test_a_banned_member_with_the_right_password_gets_an_appeal_token_only(
    user_served: Served, user_subgraph: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    member = await register(user_subgraph)
    await _ban(user_served, member.id)
    address = fresh_address()
    credentials = {"e": member.email, "p": member.password}

    refused = await gql(user_subgraph, LOGIN, credentials, address=address)
    assert error_codes(refused) == ["FORBIDDEN"], refused
    extensions = refused["errors"][0]["extensions"]
    assert extensions["reason"] == "BANNED"
    token = extensions["appealToken"]
    identity = await user_served.platform.verifier.verify(token)
    assert identity == Identity(user_id=member.id, appeal_only=True)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == issuer.issuer and claims["typ"] == "appeal"
    assert claims["exp"] - claims["iat"] == APPEAL_TOKEN_TTL_SECONDS

    # The wrong password says only that: no ban, no token.
    wrong = await gql(
        user_subgraph, LOGIN, {**credentials, "p": "not the password"}, address=address
    )
    assert error_codes(wrong) == ["UNAUTHENTICATED"], wrong
    assert wrong["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    # Refreshing a session hands out none either.
    body = await gql(user_subgraph, REFRESH, {"t": member.refresh_token}, address=address)
    assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN", "reason": "BANNED"}

    # The token is no access token: the user subgraph answers it nothing.
    for query, variables in (
        ("{ me { id } }", {}),
        (ENTITIES, {"representations": [{"__typename": "User", "id": member.id}]}),
    ):
        body = await gql(user_subgraph, query, variables, token=token)
        assert error_codes(body) == ["UNAUTHENTICATED"], body
        assert body["errors"][0]["extensions"]["reason"] == "APPEAL_ONLY"
        assert "only lets a banned member appeal" in body["errors"][0]["message"]


async def test_the_sign_in_limits_come_before_the_appeal_token(
    user_served: Served, user_subgraph: httpx.AsyncClient
) -> None:
    member = await register(user_subgraph)
    await _ban(user_served, member.id)
    address = fresh_address()
    for _ in range(user_served.platform.settings.login_account_failures):
        wrong = {"e": member.email, "p": "not the password"}
        assert error_codes(await gql(user_subgraph, LOGIN, wrong, address=address)) == [
            "UNAUTHENTICATED"
        ]
    right = {"e": member.email, "p": member.password}
    limited = await gql(user_subgraph, LOGIN, right, address=address)
    assert error_codes(limited) == ["RATE_LIMITED"], limited
    assert "appealToken" not in limited["errors"][0]["extensions"]
