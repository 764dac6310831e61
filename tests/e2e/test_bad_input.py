"""Bad input through the gateway: a clear error code, never a 500, and nothing changes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest

from tests.support import error_codes, gql, register


async def _raw(gateway: httpx.AsyncClient, body: Any, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await gateway.post("/graphql", json=body, headers=headers)


def _codes(response: httpx.Response) -> list[str]:
    assert response.status_code < 500, response.text
    return [e.get("extensions", {}).get("code") for e in response.json().get("errors", [])]


async def test_a_malformed_query_is_a_parse_error(gateway: httpx.AsyncClient) -> None:
    codes = _codes(await _raw(gateway, {"query": "{ me { id "}))
    assert codes == ["GRAPHQL_PARSE_FAILED"]


async def test_an_unknown_field_is_a_validation_error(gateway: httpx.AsyncClient) -> None:
    codes = _codes(await _raw(gateway, {"query": "{ me { shoeSize } }"}))
    assert codes == ["GRAPHQL_VALIDATION_FAILED"]


async def test_a_variable_of_the_wrong_type_is_refused(gateway: httpx.AsyncClient) -> None:
    response = await _raw(
        gateway,
        {
            "query": "mutation($v: Int!) { updateProfile(input: {}, expectedVersion: $v) { id } }",
            "variables": {"v": "three"},
        },
    )
    assert _codes(response) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    "body",
    [
        {
            "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) "
            "{ accessToken } }",
            "variables": {"e": "a\u0000@example.com", "p": "password"},
        },
        {"query": 'mutation { registerDevice(platform: WEB, token: "t\\u0000") { id } }'},
    ],
    ids=["variable", "document"],
)
async def test_text_with_a_nul_character_is_bad_user_input(
    gateway: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    # PostgreSQL holds no NUL: this was an INTERNAL_SERVER_ERROR from the driver.
    member = await register(gateway)
    assert _codes(await _raw(gateway, body, member.access_token)) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("token", ["garbage", "a.b.c", str(uuid.uuid4())])
async def test_an_invalid_token_is_unauthenticated(gateway: httpx.AsyncClient, token: str) -> None:
    assert error_codes(await gql(gateway, "{ me { id } }", token=token)) == ["UNAUTHENTICATED"]


async def test_an_unknown_or_malformed_id_is_said_so(gateway: httpx.AsyncClient) -> None:
    member = await register(gateway)
    query = "query($id: ID!) { user(id: $id) { id } }"
    unknown = await gql(gateway, query, {"id": str(uuid.uuid4())}, token=member.access_token)
    assert error_codes(unknown) == ["NOT_FOUND"]
    malformed = await gql(gateway, query, {"id": "42"}, token=member.access_token)
    assert error_codes(malformed) == ["BAD_USER_INPUT"]


async def test_oversized_strings_change_nothing(
    gateway: httpx.AsyncClient, user_db: psycopg.Connection[Any]
) -> None:
    member = await register(gateway)
    mutation = (
        "mutation($i: ProfileInput!) { updateProfile(input: $i, expectedVersion: 1) { version } }"
    )
    for field, value in [
        ("displayName", "x" * 51),
        ("bio", "y" * 5_000),
        ("interests", ["z" * 100]),
        ("languages", ["not a language"]),
    ]:
        body = await gql(gateway, mutation, {"i": {field: value}}, token=member.access_token)
        assert error_codes(body) == ["BAD_USER_INPUT"], (field, body)
        assert body["errors"][0]["extensions"]["field"] == field
    row = user_db.execute(
        "SELECT version, bio FROM accounts WHERE id = %s", (member.id,)
    ).fetchone()
    assert row == (1, None)


async def test_a_huge_request_body_is_refused_without_a_server_error(
    gateway: httpx.AsyncClient,
) -> None:
    response = await _raw(gateway, {"query": "{ me { id } }", "variables": {"x": "a" * 2_000_000}})
    assert response.status_code < 500
    assert response.status_code in (200, 400, 413)


async def test_registration_with_bad_fields_creates_no_account(
    gateway: httpx.AsyncClient, user_db: psycopg.Connection[Any]
) -> None:
    email = f"young-{uuid.uuid4().hex[:8]}@example.com"
    body = await gql(
        gateway,
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
        {
            "i": {
                "email": email,
                "password": "long enough",
                "displayName": "Kid",
                "birthdate": "2020-01-01",
                "gender": "MAN",
            }
        },
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert user_db.execute(
        "SELECT count(*) FROM accounts WHERE email = %s", (email,)
    ).fetchone() == (0,)
