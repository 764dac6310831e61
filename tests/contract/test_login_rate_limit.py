"""Brute-force limits on `login` and `refreshToken`, against the in-process user subgraph.

The subgraph's peer here is 127.0.0.1, a trusted proxy by default, so each test names its
own client with `X-Forwarded-For` (a fresh address each, as the session shares one Redis),
and every email is fresh too.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

import httpx
import pytest

from kindred.settings import Settings
from tests.contract.conftest import Served
from tests.support import Member, error_codes, fresh_address, gql, register

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"
REFRESH = "mutation($t: String!) { refreshToken(refreshToken: $t) { refreshToken } }"


@pytest.fixture
def settings(user_served: Served) -> Settings:
    return user_served.platform.settings


def fresh_email() -> str:
    return f"nobody-{uuid.uuid4().hex[:12]}@example.com"


async def login(
    client: httpx.AsyncClient, email: str, password: str, *, address: str
) -> dict[str, Any]:
    return await gql(client, LOGIN, {"e": email, "p": password}, address=address)


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    """The one RATE_LIMITED error of `body`."""
    assert error_codes(body) == ["RATE_LIMITED"], body
    error: dict[str, Any] = body["errors"][0]
    return error


def assert_retry_after(error: dict[str, Any], window: float) -> int:
    retry_after = error["extensions"]["retryAfter"]
    assert isinstance(retry_after, int)
    assert 1 <= retry_after <= window
    return retry_after


async def test_wrong_passwords_for_one_account_are_limited_even_the_right_one(
    user_subgraph: httpx.AsyncClient, settings: Settings
) -> None:
    member = await register(user_subgraph)
    address = fresh_address()
    failures = settings.login_account_failures

    codes = []
    last: dict[str, Any] = {}
    for _ in range(30):
        last = await login(user_subgraph, member.email, "wrong password", address=address)
        codes.append(error_codes(last))
    assert codes[:failures] == [["UNAUTHENTICATED"]] * failures
    assert codes[failures:] == [["RATE_LIMITED"]] * (30 - failures)
    assert_retry_after(refusal(last), settings.login_account_window_seconds)

    # The right password, even from another address, waits for the window to pass.
    right = await login(user_subgraph, member.email, member.password, address=fresh_address())
    error = refusal(right)
    retry_after = assert_retry_after(error, settings.login_account_window_seconds)
    assert error["message"].startswith("Too many sign-in attempts for this account")
    assert "try again in" in error["message"]
    assert right["data"] is None
    assert retry_after > settings.login_account_window_seconds - 60


async def test_another_account_from_another_address_is_unaffected(
    user_subgraph: httpx.AsyncClient, settings: Settings
) -> None:
    victim, bystander = await register(user_subgraph), await register(user_subgraph)
    attacker = fresh_address()
    for _ in range(settings.login_account_failures + 3):
        await login(user_subgraph, victim.email, "wrong password", address=attacker)
    assert error_codes(
        await login(user_subgraph, victim.email, "wrong password", address=attacker)
    ) == ["RATE_LIMITED"]

    body = await login(user_subgraph, bystander.email, bystander.password, address=fresh_address())
    assert "errors" not in body, body
    assert body["data"]["login"]["accessToken"]


async def test_an_unknown_email_is_limited_exactly_like_a_known_one(
    user_subgraph: httpx.AsyncClient, settings: Settings
) -> None:
    member = await register(user_subgraph)
    answers = {}
    for email in (member.email, fresh_email()):
        address = fresh_address()
        bodies = [
            await login(user_subgraph, email, "wrong password", address=address)
            for _ in range(settings.login_account_failures + 1)
        ]
        answers[email] = [
            [(e["extensions"]["code"], re.sub(r"\d+", "N", e["message"])) for e in b["errors"]]
            for b in bodies
        ]
    known, unknown = answers.values()
    assert known == unknown
    assert known[-1][0][0] == "RATE_LIMITED"


async def test_a_successful_sign_in_forgets_the_failures(
    user_subgraph: httpx.AsyncClient, settings: Settings
) -> None:
    member = await register(user_subgraph)
    address = fresh_address()
    failures = settings.login_account_failures
    for _ in range(failures - 1):
        body = await login(user_subgraph, member.email, "wrong password", address=address)
        assert error_codes(body) == ["UNAUTHENTICATED"]
    assert "errors" not in await login(
        user_subgraph, member.email, member.password, address=address
    )

    codes = [
        error_codes(await login(user_subgraph, member.email, "wrong", address=address))
        for _ in range(failures + 1)
    ]
    assert codes == [["UNAUTHENTICATED"]] * failures + [["RATE_LIMITED"]]


async def test_one_address_is_limited_across_many_emails(
    user_subgraph: httpx.AsyncClient, settings: Settings
) -> None:
    member = await register(user_subgraph)
    sprayer = fresh_address()
    attempts = settings.login_address_attempts
    for _ in range(attempts):
        body = await login(user_subgraph, fresh_email(), "password1", address=sprayer)
        assert error_codes(body) == ["UNAUTHENTICATED"]

    error = refusal(await login(user_subgraph, fresh_email(), "password1", address=sprayer))
    assert error["message"].startswith("Too many sign-in attempts from your network")
    assert_retry_after(error, settings.login_address_window_seconds)
    # Even a member with the right password waits, from that address only.
    refusal(await login(user_subgraph, member.email, member.password, address=sprayer))
    assert "errors" not in await login(
        user_subgraph, member.email, member.password, address=fresh_address()
    )


async def test_the_address_is_the_right_most_untrusted_forwarded_one(
    user_subgraph: httpx.AsyncClient, settings: Settings
) -> None:
    """What a client puts in front of the gateway's entry does not make it someone else."""
    sprayer = fresh_address()
    for _ in range(settings.login_address_attempts):
        claimed = f"{fresh_address()}, {sprayer}"
        await login(user_subgraph, fresh_email(), "password1", address=claimed)
    body = await login(user_subgraph, fresh_email(), "password1", address=f"1.2.3.4, {sprayer}")
    refusal(body)


async def test_aliased_logins_in_one_document_count_one_each(
    user_subgraph: httpx.AsyncClient, settings: Settings
) -> None:
    member = await register(user_subgraph)
    attempts = settings.login_address_attempts
    fields = " ".join(
        f'a{i}: login(email: "{member.email}", password: "{member.password}") {{ accessToken }}'
        for i in range(attempts + 2)
    )
    address = fresh_address()
    body = await gql(user_subgraph, f"mutation {{ {fields} }}", {}, address=address)
    # Mutation fields run one after the other; the first refused one ends the document
    # (`login` is non-null), so every field before it was one counted attempt.
    error = refusal(body)
    assert error["path"] == [f"a{attempts}"]
    assert body["data"] is None
    refusal(await login(user_subgraph, member.email, member.password, address=address))


async def test_a_document_of_wrong_passwords_makes_one_guess(
    user_subgraph: httpx.AsyncClient, settings: Settings
) -> None:
    member = await register(user_subgraph)
    failures = settings.login_account_failures
    fields = " ".join(
        f'a{i}: login(email: "{member.email}", password: "wrong {i}") {{ accessToken }}'
        for i in range(failures + 3)
    )
    body = await gql(user_subgraph, f"mutation {{ {fields} }}", {}, address=fresh_address())
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["a0"], "UNAUTHENTICATED")
    ]
    # That one guess counted once: failures - 1 are left.
    address = fresh_address()
    codes = [
        error_codes(await login(user_subgraph, member.email, "wrong", address=address))
        for _ in range(failures)
    ]
    assert codes == [["UNAUTHENTICATED"]] * (failures - 1) + [["RATE_LIMITED"]]


async def test_bad_refresh_tokens_are_limited_per_address(
    user_subgraph: httpx.AsyncClient, settings: Settings
) -> None:
    member = await register(user_subgraph)
    guesser = fresh_address()
    for _ in range(settings.login_address_attempts):
        body = await gql(user_subgraph, REFRESH, {"t": secrets.token_urlsafe(32)}, address=guesser)
        assert error_codes(body) == ["UNAUTHENTICATED"]

    error = refusal(
        await gql(user_subgraph, REFRESH, {"t": secrets.token_urlsafe(32)}, address=guesser)
    )
    assert_retry_after(error, settings.login_address_window_seconds)
    assert "from your network" in error["message"]
    refusal(await gql(user_subgraph, REFRESH, {"t": member.refresh_token}, address=guesser))
    body = await gql(user_subgraph, REFRESH, {"t": member.refresh_token}, address=fresh_address())
    assert "errors" not in body, body


async def test_failed_refreshes_of_one_account_are_limited(
    user_subgraph: httpx.AsyncClient, settings: Settings
) -> None:
    member = await register(user_subgraph)
    rotated = await _rotate(user_subgraph, member)
    failures = settings.login_account_failures
    for _ in range(failures):  # the spent token, again and again, from many addresses
        body = await gql(
            user_subgraph, REFRESH, {"t": member.refresh_token}, address=fresh_address()
        )
        assert error_codes(body) == ["UNAUTHENTICATED"]

    for token in (member.refresh_token, rotated):
        error = refusal(await gql(user_subgraph, REFRESH, {"t": token}, address=fresh_address()))
        assert_retry_after(error, settings.login_account_window_seconds)
        assert "for this account" in error["message"]


async def test_reusing_a_spent_refresh_token_still_ends_every_session(
    user_subgraph: httpx.AsyncClient,
) -> None:
    member = await register(user_subgraph)
    rotated = await _rotate(user_subgraph, member)
    reused = await gql(user_subgraph, REFRESH, {"t": member.refresh_token}, address=fresh_address())
    assert error_codes(reused) == ["UNAUTHENTICATED"]
    assert "already used" in reused["errors"][0]["message"]
    after = await gql(user_subgraph, REFRESH, {"t": rotated}, address=fresh_address())
    assert error_codes(after) == ["UNAUTHENTICATED"]


async def _rotate(client: httpx.AsyncClient, member: Member) -> str:
    body = await gql(client, REFRESH, {"t": member.refresh_token}, address=fresh_address())
    assert "errors" not in body, body
    token: str = body["data"]["refreshToken"]["refreshToken"]
    return token
