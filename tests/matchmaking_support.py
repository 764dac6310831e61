"""Members who fit each other (or not), placed where no other test's members are."""

from __future__ import annotations

import random
from typing import Any

import httpx

from tests.support import Member, gql, register

UPDATE = """
mutation($input: ProfileInput!) {
  updateProfile(input: $input, expectedVersion: 1) { version }
}"""


def secluded_spot() -> dict[str, float]:
    """A random point in the South Pacific: members of different tests never meet there."""
    rng = random.SystemRandom()
    return {"latitude": rng.uniform(-50.0, -20.0), "longitude": rng.uniform(-150.0, -100.0)}


async def matchable_member(
    gateway: httpx.AsyncClient,
    *,
    name: str,
    gender: str,
    seeks: list[str],
    location: dict[str, float],
    languages: list[str] | None = None,
    **profile: Any,
) -> Member:
    """A registered member with a location, languages and preferences set (version 2)."""
    member = await register(gateway, displayName=name, gender=gender, birthdate="1995-05-05")
    body = await gql(
        gateway,
        UPDATE,
        {
            "input": {
                "location": location,
                "languages": languages or ["pt"],
                "interests": ["surfing", "tea"],
                "preferences": {"gendersSought": seeks, "maxDistanceKm": 20},
                **profile,
            }
        },
        token=member.access_token,
    )
    assert "errors" not in body, body
    return member


async def join_queue(gateway: httpx.AsyncClient, member: Member) -> None:
    body = await gql(gateway, "mutation { joinQueue { syncedVersion } }", token=member.access_token)
    assert body["data"]["joinQueue"]["syncedVersion"] == 2, body
