"""What the user subgraph owns that others copy (profiles, push tokens), and what it keeps
of others (blocks, suspensions): see `kindred.consistency` for the shape."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import col, select

from kindred.consistency import (
    MATCHING_PROFILE_FIELDS,
    Key,
    ReadModel,
    Side,
    Source,
    blocks_copy,
    republished,
    suspensions_copy,
)
from kindred.db import UnitOfWork
from subgraphs.user import events
from subgraphs.user.models import Account, Device

PROFILE_COLUMNS = ("version", "deleted_at", *MATCHING_PROFILE_FIELDS)


async def republish_profiles(uow: UnitOfWork, keys: Sequence[Key]) -> list[Key]:
    """Each account's profile at its version, or its deletion for a deleted account."""
    accounts = (
        await uow.session.exec(
            select(Account)
            .where(col(Account.id).in_([key[0] for key in keys]))
            .order_by(col(Account.id))
            .with_for_update()
        )
    ).all()
    for account in accounts:
        event = (
            events.user_deleted(account) if account.deleted_at else events.profile_updated(account)
        )
        uow.publish(republished(event))
    return [(account.id,) for account in accounts]


async def republish_devices(uow: UnitOfWork, keys: Sequence[Key]) -> list[Key]:
    """Each push token as registered or removed, at the device's version."""
    devices = (
        await uow.session.exec(
            select(Device)
            .where(col(Device.token).in_([key[0] for key in keys]))
            .order_by(col(Device.token))
            .with_for_update()
        )
    ).all()
    for device in devices:
        event = (
            events.device_removed(device) if device.removed_at else events.device_registered(device)
        )
        uow.publish(republished(event))
    return [(device.token,) for device in devices]


SOURCES = [
    Source(
        name="profiles",
        side=Side(
            query=sa.select(col(Account.id), *(col(getattr(Account, n)) for n in PROFILE_COLUMNS)),
            key=(col(Account.id),),
            member=lambda user_id: col(Account.id) == user_id,
        ),
        republish=republish_profiles,
    ),
    Source(
        name="devices",
        side=Side(
            query=sa.select(
                col(Device.token),
                col(Device.id),
                col(Device.user_id),
                col(Device.platform),
                col(Device.version),
                col(Device.removed_at),
            ),
            key=(col(Device.token),),
            member=lambda user_id: col(Device.user_id) == user_id,
        ),
        republish=republish_devices,
    ),
]

READ_MODELS: list[ReadModel] = [blocks_copy(), suspensions_copy()]
