"""The queuing subgraph's GraphQL schema: `User.queueEntry`, joining and leaving the queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from kindred.calendar import age_on, today
from kindred.context import RequestContext
from kindred.entities import fetch_entities
from kindred.errors import NotFound
from kindred.graphql import build_schema, describe_values
from kindred.ids import parse_id
from kindred.pagination import After, Connection, First, connection, page_size
from kindred.shared_types import USER_DESCRIPTION, Gender, Location
from subgraphs.queuing import entry_cache, events, saga, service
from subgraphs.queuing.entry_cache import EntryView

Ctx = Info[RequestContext, None]

# What joining reads fresh from the user subgraph: the fields the queue copies.
FRESH_PROFILE = (
    "id version birthdate gender location { latitude longitude } interests languages "
    "preferences { minAge maxAge gendersSought maxDistanceKm }"
)

MatchStatus = strawberry.enum(
    saga.MatchStatus,
    description="Where a match stands: PENDING while its conversation and notifications are "
    "set up, ACTIVE once they are, CANCELLED if that failed (both members went back to the "
    "queue), ENDED when a member went back to the queue.",
)
describe_values(
    MatchStatus,
    PENDING="Its conversation and notifications are being set up.",
    ACTIVE="Set up: the two members can talk.",
    CANCELLED="Setting it up failed; both members went back to the queue.",
    ENDED="A member went back to the queue.",
)


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
    def from_row(cls, row: EntryView) -> QueueEntry:
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
    platform = info.context.platform

    async def load(ids: list[uuid.UUID]) -> list[QueueEntry | None]:
        views = await entry_cache.entries(platform.db, platform.cache, ids)
        return [QueueEntry.from_row(view) if view else None for view in views]

    return await info.context.loader("queue_entries", load).load(user_id)


MATCH_DESCRIPTION = "A pairing of two members made by the matcher."


@strawberry.federation.type(keys=["id"], description=MATCH_DESCRIPTION)
class Match:
    id: strawberry.ID = strawberry.field(description="Stable id of the match.")
    participants: list[User | None] = strawberry.field(
        description="The two members matched; each null if that member's account no longer exists."
    )
    score: float = strawberry.field(
        description="How well they fit, from 0 to 1 (shared interests, distance, time waited)."
    )
    distance_km: float = strawberry.field(description="Great-circle distance between them.")
    status: MatchStatus = strawberry.field(description="Where the match stands.")  # type: ignore[valid-type]
    created_at: datetime = strawberry.field(description="When the matcher made it.")

    @classmethod
    def from_row(cls, row: Any) -> Match:
        return cls(
            id=strawberry.ID(str(row.id)),
            participants=[User(id=strawberry.ID(str(member))) for member in row.user_ids],
            score=row.score,
            distance_km=row.distance_km,
            status=saga.MatchStatus(row.status),
            created_at=row.created_at,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> Match | None:
        caller = info.context.require_identity().user_id
        match = await load_match(info, parse_id(id))
        members = {str(member.id) for member in match.participants if member} if match else ()
        if caller not in members:
            raise NotFound("No such match.")
        return match


async def load_match(info: Ctx, match_id: uuid.UUID) -> Match | None:
    db = info.context.platform.db

    async def load(ids: list[uuid.UUID]) -> list[Match | None]:
        async with db.read() as connection:
            rows = await service.matches_by_id(connection, ids)
        return [Match.from_row(row) if row else None for row in rows]

    return await info.context.loader("matches", load).load(match_id)


@strawberry.federation.type(keys=["id"], description=USER_DESCRIPTION)
class User:
    id: strawberry.ID

    @strawberry.field(description="The member's place in the matchmaking queue, if waiting.")
    async def queue_entry(self, info: Ctx) -> QueueEntry | None:
        return await load_entry(info, info.context.require_self(self.id, what="queue entry"))

    @strawberry.field(
        description="The member's match in progress (PENDING or ACTIVE), if any; own only."
    )
    async def current_match(self, info: Ctx) -> Match | None:
        member = info.context.require_self(self.id, what="matches")
        db = info.context.platform.db

        async def load(ids: list[uuid.UUID]) -> list[Match | None]:
            async with db.read() as connection:
                rows = await service.current_matches(connection, ids)
            return [Match.from_row(row) if row else None for row in rows]

        return await info.context.loader("current_matches", load).load(member)

    @strawberry.field(description="Every match the member was in, newest first; own only.")
    async def matches(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
    ) -> Connection[Match]:
        member = info.context.require_self(self.id, what="matches")
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.matches_of(conn, user_id=member, first=size, after=after)
        return connection(
            rows,
            first=size,
            node=lambda row: Match.from_row(row),
            key=lambda row: (row.created_at, row.id),
        )

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
        "from the user subgraph. Joining again keeps the original place. Joining ends an "
        "ACTIVE match; while a match is PENDING it is `CONFLICT`. A suspended or banned "
        "member is `FORBIDDEN` (`extensions.reason` SUSPENDED with `until`, or BANNED)."
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
        preferences = fresh["preferences"]
        snapshot = {
            **fresh,
            "latitude": location.get("latitude"),
            "longitude": location.get("longitude"),
            "min_age": preferences["minAge"],
            "max_age": preferences["maxAge"],
            "genders_sought": preferences["gendersSought"],
            "max_distance_km": preferences["maxDistanceKm"],
        }
        member = parse_id(user_id)
        async with platform.db.unit_of_work() as uow:
            joined = await service.join(
                uow.session, user_id=member, version=fresh["version"], snapshot=snapshot
            )
            if joined is not None:
                uow.publish(events.entry_joined(joined))
            await uow.commit()
        # Before answering: the member's next read, on any replica, sees the change.
        await entry_cache.forget(platform.cache, [member])
        entry = await load_entry(info, member)
        assert entry is not None
        return entry

    @strawberry.mutation(
        description="Takes the signed-in member out of the queue; false if they were not in it."
    )
    async def leave_queue(self, info: Ctx) -> bool:
        user_id = info.context.caller_id()
        async with info.context.platform.db.session() as session, session.begin():
            left = await service.leave(session, user_id=user_id)
        await entry_cache.forget(info.context.platform.cache, [user_id])
        return left


schema = build_schema(query=Query, mutation=Mutation, types=[User, Match])
