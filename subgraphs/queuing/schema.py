"""The queuing subgraph's GraphQL schema: `User.queueEntry`, joining and leaving the queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import Row
from strawberry.types import Info

from kindred.calendar import age_on, today
from kindred.context import RequestContext
from kindred.entities import fetch_entities
from kindred.errors import Forbidden, NotFound
from kindred.graphql import build_schema
from kindred.ids import parse_id
from kindred.shared_types import USER_DESCRIPTION, Gender, Location
from subgraphs.queuing import service

Ctx = Info[RequestContext, None]

# What joining reads fresh from the user subgraph: the fields the queue copies.
FRESH_PROFILE = "id version birthdate gender location { latitude longitude } interests languages"


@strawberry.type(description="A member waiting to be matched, with the profile copy matching uses.")
class QueueEntry:
    joined_at: datetime = strawberry.field(description="When the member joined the queue.")
    age: int = strawberry.field(description="Age in completed years, from the copied birthdate.")
    gender: Gender = strawberry.field(description="Copied gender.")
    location: Location | None = strawberry.field(description="Copied location, if shared.")
    interests: list[str] = strawberry.field(description="Copied interests.")
    languages: list[str] = strawberry.field(description="Copied languages.")
    synced_version: int = strawberry.field(
        description="The `User.version` this copy was built from."
    )
    synced_at: datetime = strawberry.field(description="When the copy was last refreshed.")

    @classmethod
    def from_row(cls, row: Row[Any]) -> QueueEntry:
        return cls(
            joined_at=row.joined_at,
            age=age_on(row.birthdate, today()),
            gender=Gender(row.gender),
            location=Location.from_coordinates(row.latitude, row.longitude),
            interests=list(row.interests),
            languages=list(row.languages),
            synced_version=row.synced_version,
            synced_at=row.synced_at,
        )


async def load_entry(info: Ctx, user_id: uuid.UUID) -> QueueEntry | None:
    """A member's entry through the request's DataLoader: N members cost one query."""
    db = info.context.platform.db

    async def load(ids: list[uuid.UUID]) -> list[QueueEntry | None]:
        async with db.read() as connection:
            rows = await service.entries(connection, ids)
        return [QueueEntry.from_row(row) if row else None for row in rows]

    return await info.context.loader("queue_entries", load).load(user_id)


@strawberry.federation.type(keys=["id"], description=USER_DESCRIPTION)
class User:
    id: strawberry.ID

    @strawberry.field(description="The member's place in the matchmaking queue, if waiting.")
    async def queue_entry(self, info: Ctx) -> QueueEntry | None:
        user_id = parse_id(self.id)
        if info.context.require_identity().user_id != str(user_id):
            raise Forbidden("Only the member can see their queue entry.")
        return await load_entry(info, user_id)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)


@strawberry.type
class Query:
    @strawberry.field(description="How many members are waiting in the queue.")
    async def queue_length(self, info: Ctx) -> int:
        info.context.require_identity()
        async with info.context.platform.db.session() as session:
            return await service.queue_length(session)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Puts the signed-in member in the queue, copying their profile fresh "
        "from the user subgraph. Joining again keeps the original place."
    )
    async def join_queue(self, info: Ctx) -> QueueEntry:
        context = info.context
        user_id = context.require_identity().user_id
        platform = context.platform
        [fresh] = await fetch_entities(
            platform.http,
            platform.settings.user_graphql_url,
            typename="User",
            ids=[user_id],
            selection=FRESH_PROFILE,
            authorization=context.authorization,
        )
        if fresh is None:
            raise NotFound("Your account no longer exists.")
        location = fresh["location"] or {}
        snapshot = {
            **fresh,
            "latitude": location.get("latitude"),
            "longitude": location.get("longitude"),
        }
        async with platform.db.session() as session, session.begin():
            await service.join(
                session, user_id=parse_id(user_id), version=fresh["version"], snapshot=snapshot
            )
        entry = await load_entry(info, parse_id(user_id))
        assert entry is not None
        return entry

    @strawberry.mutation(
        description="Takes the signed-in member out of the queue; false if they were not in it."
    )
    async def leave_queue(self, info: Ctx) -> bool:
        user_id = parse_id(info.context.require_identity().user_id)
        async with info.context.platform.db.session() as session, session.begin():
            return await service.leave(session, user_id=user_id)


schema = build_schema(query=Query, mutation=Mutation, types=[User])
