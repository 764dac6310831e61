"""What notification keeps of others (push tokens, from the user subgraph's devices): see
`kindred.consistency` for the shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from kindred.consistency import Drift, ReadModel, Side, extra, missing, stale
from subgraphs.notification.models import Device


def compare_devices(owner: Any, copy: Any, now: datetime) -> Drift | None:
    """`devices` against the user subgraph's: same member, platform, version and removal.
    A token the push provider called dead is removed here first, at the same version,
    until the user subgraph's removal comes back: that is not drift."""
    if owner is None:
        return extra("no such device") if copy is not None else None
    removed = owner.removed_at is not None
    if copy is None:
        return None if removed else missing(f"device at version {owner.version}")
    same = (copy.device_id, copy.user_id, copy.platform) == (
        owner.id,
        owner.user_id,
        owner.platform,
    )
    if copy.version != owner.version or not same:
        return stale(f"copy at version {copy.version}, device at {owner.version}")
    if copy.removed != removed and not copy.removed:
        return stale(f"version {owner.version}: removed {copy.removed} vs {removed}")
    return None


READ_MODELS = [
    ReadModel(
        name="devices",
        source=("user", "devices"),
        side=Side(
            query=sa.select(
                col(Device.token),
                col(Device.device_id),
                col(Device.user_id),
                col(Device.platform),
                col(Device.version),
                col(Device.removed),
            ),
            key=(col(Device.token),),
            member=lambda user_id: col(Device.user_id) == user_id,
        ),
        compare=compare_devices,
        description="push tokens (user.device.registered, user.device.removed)",
    )
]
