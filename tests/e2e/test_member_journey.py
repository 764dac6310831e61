"""A member's path through the one endpoint: sign up, profile, queue, sessions."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import redis.asyncio as redis

from tests.support import Member, error_codes, eventually, gql, register

ME_WITH_QUEUE = "{ me { displayName version queueEntry { age interests syncedVersion } } }"
UPDATE = """
mutation($input: ProfileInput!, $v: Int!) {
  updateProfile(input: $input, expectedVersion: $v) { version displayName birthdate interests }
}"""


async def _me(gateway: httpx.AsyncClient, member: Member) -> dict[str, Any]:
    body = await gql(gateway, ME_WITH_QUEUE, token=member.access_token)
    assert "errors" not in body, body
    me: dict[str, Any] = body["data"]["me"]
    return me


async def test_signing_up_updating_and_the_queue_copy_following(
    gateway: httpx.AsyncClient, queuing_db: psycopg.Connection[Any]
) -> None:
    member = await register(gateway, displayName="Sam", birthdate="1990-01-01")
    login = await gql(
        gateway,
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
        {"e": member.email, "p": member.password},
    )
    member.access_token = login["data"]["login"]["accessToken"]
    assert (await _me(gateway, member))["queueEntry"] is None

    joined = await gql(
        gateway, "mutation { joinQueue { age syncedVersion } }", token=member.access_token
    )
    assert joined["data"]["joinQueue"]["syncedVersion"] == 1

    updated = await gql(
        gateway,
        UPDATE,
        {"input": {"birthdate": "2000-01-01", "interests": ["climbing"]}, "v": 1},
        token=member.access_token,
    )
    assert updated["data"]["updateProfile"]["version"] == 2

    me = await eventually(
        lambda: _me(gateway, member), lambda me: me["queueEntry"]["syncedVersion"] == 2
    )
    assert me["queueEntry"]["interests"] == ["climbing"]
    assert me["queueEntry"]["age"] < 30
    row = queuing_db.execute(
        "SELECT synced_version, interests FROM profile_copies WHERE user_id = %s", (member.id,)
    ).fetchone()
    assert row == (2, ["climbing"])


async def test_a_cached_queue_entry_follows_the_profile_and_the_queue(
    gateway: httpx.AsyncClient, infra: Any
) -> None:
    """`queueEntry` is cached in Redis; what the database changes (a profile event, a
    leave) is forgotten at commit, whoever wrote it."""
    member = await register(gateway, displayName="Kit")
    await gql(gateway, "mutation { joinQueue { syncedVersion } }", token=member.access_token)
    key = f"queuing:entry:{member.id}"
    async with redis.from_url(infra.redis_url) as raw:
        # A minute after joining: the tombstone joining left is gone, reads fill the cache.
        await raw.delete(key)
        assert (await _me(gateway, member))["queueEntry"]["syncedVersion"] == 1
        assert b'"synced_version": 1' in (await raw.get(key) or b"")

        updated = await gql(
            gateway, UPDATE, {"input": {"interests": ["chess"]}, "v": 1}, token=member.access_token
        )
        assert updated["data"]["updateProfile"]["version"] == 2
        me = await eventually(
            lambda: _me(gateway, member), lambda me: me["queueEntry"]["syncedVersion"] == 2
        )
        assert me["queueEntry"]["interests"] == ["chess"]

        await raw.delete(key)
        assert (await _me(gateway, member))["queueEntry"] is not None  # cached again
        left = await gql(gateway, "mutation { leaveQueue }", token=member.access_token)
        assert left["data"]["leaveQueue"] is True
        assert (await _me(gateway, member))["queueEntry"] is None


async def test_a_stale_expected_version_is_a_conflict_and_changes_nothing(
    gateway: httpx.AsyncClient, user_db: psycopg.Connection[Any]
) -> None:
    member = await register(gateway)
    first = await gql(
        gateway, UPDATE, {"input": {"displayName": "First"}, "v": 1}, token=member.access_token
    )
    assert first["data"]["updateProfile"]["version"] == 2
    second = await gql(
        gateway, UPDATE, {"input": {"displayName": "Second"}, "v": 1}, token=member.access_token
    )
    assert error_codes(second) == ["CONFLICT"]
    assert (await _me(gateway, member))["displayName"] == "First"
    row = user_db.execute(
        "SELECT display_name, version FROM accounts WHERE id = %s", (member.id,)
    ).fetchone()
    assert row == ("First", 2)
    events = user_db.execute(
        "SELECT count(*) FROM outbox WHERE key = %s AND topic = 'user.profile.updated'",
        (member.id,),
    ).fetchone()
    assert events == (2,), "one event for sign-up, one for the one successful update"


async def test_refresh_tokens_rotate_and_logout_revokes(gateway: httpx.AsyncClient) -> None:
    member = await register(gateway)
    refresh = (
        "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }"
    )
    rotated = await gql(gateway, refresh, {"t": member.refresh_token})
    new_refresh = rotated["data"]["refreshToken"]["refreshToken"]
    assert new_refresh != member.refresh_token
    new_access = rotated["data"]["refreshToken"]["accessToken"]
    assert "errors" not in await gql(gateway, "{ me { id } }", token=new_access)

    reused = await gql(gateway, refresh, {"t": member.refresh_token})
    assert error_codes(reused) == ["UNAUTHENTICATED"]

    logout = "mutation($t: String!) { logout(refreshToken: $t) }"
    assert (await gql(gateway, logout, {"t": new_refresh}))["data"]["logout"] is True
    assert error_codes(await gql(gateway, refresh, {"t": new_refresh})) == ["UNAUTHENTICATED"]


async def test_registering_a_device_twice_is_one_device(
    gateway: httpx.AsyncClient, user_db: psycopg.Connection[Any]
) -> None:
    member = await register(gateway)
    mutation = "mutation($t: String!, $p: DevicePlatform!) { registerDevice(token: $t, platform: $p) { id platform } }"  # noqa: E501
    token = f"push-{member.id}"
    first = await gql(gateway, mutation, {"t": token, "p": "IOS"}, token=member.access_token)
    again = await gql(gateway, mutation, {"t": token, "p": "ANDROID"}, token=member.access_token)
    assert first["data"]["registerDevice"]["id"] == again["data"]["registerDevice"]["id"]
    rows = user_db.execute(
        "SELECT user_id::text, platform FROM devices WHERE token = %s", (token,)
    ).fetchall()
    assert rows == [(member.id, "ANDROID")]


async def test_a_deleted_member_leaves_the_queue_and_is_erased(
    gateway: httpx.AsyncClient,
    queuing_db: psycopg.Connection[Any],
    user_db: psycopg.Connection[Any],
) -> None:
    member = await register(gateway)
    await gql(gateway, "mutation { joinQueue { syncedVersion } }", token=member.access_token)
    deleted = await gql(gateway, "mutation { deleteAccount }", token=member.access_token)
    assert deleted == {"data": {"deleteAccount": True}}

    def entry_count() -> int:
        row = queuing_db.execute(
            "SELECT count(*) FROM queue_entries WHERE user_id = %s", (member.id,)
        ).fetchone()
        assert row is not None
        return int(row[0])

    await eventually(entry_count, lambda count: count == 0)
    login = await gql(
        gateway,
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
        {"e": member.email, "p": member.password},
    )
    assert error_codes(login) == ["UNAUTHENTICATED"]
    # What identified the member is gone, and the email can sign up again.
    row = user_db.execute(
        "SELECT email, display_name, bio FROM accounts WHERE id = %s", (member.id,)
    ).fetchone()
    assert row == (f"deleted-{member.id}@deleted.invalid", "Deleted member", None)
    again = await register(gateway, email=member.email)
    assert again.id != member.id


async def test_an_update_that_changes_nothing_makes_no_new_version(
    gateway: httpx.AsyncClient, user_db: psycopg.Connection[Any]
) -> None:
    member = await register(gateway, displayName="Same")
    same = await gql(
        gateway, UPDATE, {"input": {"displayName": "Same"}, "v": 1}, token=member.access_token
    )
    assert same["data"]["updateProfile"]["version"] == 1
    stale = await gql(gateway, UPDATE, {"input": {}, "v": 0}, token=member.access_token)
    assert error_codes(stale) == ["CONFLICT"]
    events = user_db.execute("SELECT count(*) FROM outbox WHERE key = %s", (member.id,)).fetchone()
    assert events == (1,), "only the sign-up event"
