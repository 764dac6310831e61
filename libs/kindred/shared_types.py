"""GraphQL types that several subgraphs expose the same way (value types, not entities)."""

from __future__ import annotations

from enum import Enum

import strawberry

from kindred.graphql import describe_values

# Every subgraph describes the `User` entity alike (composition warns otherwise).
USER_DESCRIPTION = (
    "A member of Kindred. `email`, `birthdate`, `location` and `preferences` are the "
    "member's own: anyone else gets `FORBIDDEN` for them."
)

# Another member, referred to by id, is a nullable `User`: the user subgraph resolves null
# for an account that is gone (deleted, or an id that never was one), which a non-null
# field would turn into an error failing the whole answer. Appended to such fields'
# descriptions.
GONE_MEMBER = "; null if that member's account no longer exists"


@strawberry.enum(description="How a member describes their gender.")
class Gender(Enum):
    WOMAN = "WOMAN"
    MAN = "MAN"
    NON_BINARY = "NON_BINARY"
    OTHER = "OTHER"


describe_values(
    Gender,
    WOMAN="Identifies as a woman.",
    MAN="Identifies as a man.",
    NON_BINARY="Identifies as non-binary.",
    OTHER="Describes their gender otherwise.",
)


@strawberry.federation.type(shareable=True, description="A point on Earth, in decimal degrees.")
class Location:
    latitude: float = strawberry.field(description="Degrees north, from -90 to 90.")
    longitude: float = strawberry.field(description="Degrees east, from -180 to 180.")

    @classmethod
    def from_coordinates(cls, latitude: float | None, longitude: float | None) -> Location | None:
        if latitude is None or longitude is None:
            return None
        return cls(latitude=latitude, longitude=longitude)
