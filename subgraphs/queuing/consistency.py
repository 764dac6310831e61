"""What queuing keeps of others: profile copies (from user), pairs kept apart by a block
(from interaction), suspensions (moderation) and entitlements (subscription). See
`kindred.consistency` for the shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from kindred.consistency import (
    MATCHING_PROFILE_FIELDS,
    BlockState,
    Drift,
    ReadModel,
    Side,
    entitlements_copy,
    extra,
    missing,
    stale,
    suspensions_copy,
)
from subgraphs.queuing.models import PairExclusion, ProfileCopy


def compare_profiles(owner: Any, copy: Any, now: datetime) -> Drift | None:
    """`profile_copies` against the user subgraph's accounts: a deleted account's copy (if
    any) is marked deleted at the account's version; any other is the profile at it."""
    if owner is None:
        return extra("no such account") if copy is not None else None
    deleted = owner.deleted_at is not None
    if copy is None:
        return None if deleted else missing(f"account at version {owner.version}")
    if copy.synced_version != owner.version or copy.deleted != deleted:
        return stale(
            f"copy at version {copy.synced_version} (deleted={copy.deleted}), "
            f"account at {owner.version} (deleted={deleted})"
        )
    if not deleted:
        differs = [
            name for name in MATCHING_PROFILE_FIELDS if getattr(copy, name) != getattr(owner, name)
        ]
        if differs:
            return stale(f"version {owner.version}, but {', '.join(differs)} differ")
    return None


def compare_block_exclusions(owner: BlockState | None, copy: Any, now: datetime) -> Drift | None:
    """`pair_exclusions` with reason BLOCK: the pair is kept apart (until null) while the
    actor blocks the target. Its version moves only with blocks and unblocks."""
    kept_apart = copy is not None and copy.until is None
    if owner is None:
        return extra("no such relation") if kept_apart else None
    if owner.blocked == kept_apart:
        return None
    if copy is None:
        return missing(f"blocked at version {owner.version}")
    return stale(f"kept apart {kept_apart}, blocked {owner.blocked} at version {owner.version}")


READ_MODELS = [
    ReadModel(
        name="profiles",
        source=("user", "profiles"),
        side=Side(
            query=sa.select(
                col(ProfileCopy.user_id),
                col(ProfileCopy.synced_version),
                col(ProfileCopy.deleted),
                *(col(getattr(ProfileCopy, name)) for name in MATCHING_PROFILE_FIELDS),
            ),
            key=(col(ProfileCopy.user_id),),
            member=lambda user_id: col(ProfileCopy.user_id) == user_id,
        ),
        compare=compare_profiles,
        description="what matching needs of each profile (user.profile.updated, user.deleted)",
    ),
    ReadModel(
        name="block_exclusions",
        source=("interaction", "relations"),
        side=Side(
            query=sa.select(
                col(PairExclusion.user_id),
                col(PairExclusion.other_user_id),
                col(PairExclusion.until),
                col(PairExclusion.version),
            ).where(col(PairExclusion.reason) == "BLOCK"),
            key=(col(PairExclusion.user_id), col(PairExclusion.other_user_id)),
            member=lambda user_id: (
                (col(PairExclusion.user_id) == user_id)
                | (col(PairExclusion.other_user_id) == user_id)
            ),
        ),
        compare=compare_block_exclusions,
        description="pairs the matcher keeps apart for a block (interaction.recorded)",
    ),
    suspensions_copy(),
    entitlements_copy(),
]
