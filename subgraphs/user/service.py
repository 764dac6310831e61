"""What the user subgraph does: accounts, sessions, profiles, devices."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred import credentials, member_state, sessions
from kindred.cache import Cache
from kindred.db import Database, UnitOfWork
from kindred.errors import BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated
from kindred.pagination import older_than
from subgraphs.user import events, profile
from subgraphs.user.models import VIEW_FIELDS, Account, AccountView, Device, RefreshToken


def _now() -> datetime:
    return datetime.now(UTC)


def _cache_key(user_id: uuid.UUID | str) -> str:
    return f"account:{user_id}"


async def register(
    uow: UnitOfWork,
    *,
    email: str,
    password: str,
    display_name: str,
    birthdate: date,
    gender: str,
    today: date,
) -> Account:
    """Creates an account at version 1 and announces its profile."""
    now = _now()
    account = Account(
        email=profile.email(email),
        # Hashing takes tens of milliseconds of CPU: off the event loop.
        password_hash=await asyncio.to_thread(
            credentials.hash_password, profile.password(password)
        ),
        display_name=profile.display_name(display_name),
        birthdate=profile.birthdate(birthdate, today),
        gender=profile.gender(gender),
        created_at=now,
        updated_at=now,
    )
    uow.session.add(account)
    try:
        await uow.session.flush()
    except IntegrityError:
        raise Conflict("An account with this email already exists.", field="email") from None
    uow.publish(events.profile_updated(account))
    return account


class Banned(Forbidden):
    """`FORBIDDEN` (`extensions.reason` BANNED): moderation bans the member. It keeps the
    member's id for the server (not in the answer), so that `login` can hand a member who
    gave the right password an appeal token."""

    def __init__(self, user_id: uuid.UUID) -> None:
        super().__init__("This account is banned.", reason="BANNED")
        self.user_id = user_id


async def refuse_if_banned(session: AsyncSession, user_id: uuid.UUID) -> None:
    """`Banned` while moderation bans the member. A member suspended for a while may still
    sign in: to see their standing and appeal."""
    suspended, until = await member_state.suspension_of(session, user_id)
    if suspended and until is None:
        raise Banned(user_id)


async def authenticate(session: AsyncSession, *, email: str, password: str) -> Account:
    """The account with these credentials, or `UNAUTHENTICATED`; a banned member with the
    right password is `Banned` (only then: a wrong password never reveals a ban)."""
    account = (
        await session.exec(
            select(Account).where(
                Account.email == email.strip().lower(), col(Account.deleted_at).is_(None)
            )
        )
    ).first()
    stored = account.password_hash if account else None
    if not await asyncio.to_thread(credentials.verify_password, stored, password):
        raise Unauthenticated("The email or the password is wrong.")
    assert account is not None
    await refuse_if_banned(session, account.id)
    return account


SESSIONS = sessions.RefreshTokens(RefreshToken, owner="user_id", limit_key="account")
"""Members' refresh tokens (`refresh_tokens.user_id`)."""


async def not_banned(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID:
    """The member, unless banned (`FORBIDDEN`): the check before a session is refreshed."""
    await refuse_if_banned(session, user_id)
    return user_id


async def get_many(
    database: Database, cache: Cache, ids: Sequence[uuid.UUID]
) -> list[AccountView | None]:
    """Accounts by id, in order (None where unknown or deleted): cache, then one SQL query."""
    keys = [_cache_key(user_id) for user_id in ids]
    cached = await cache.get_many(keys)
    found = {
        user_id: AccountView.from_json(cached[key])
        for user_id, key in zip(ids, keys, strict=True)
        if key in cached
    }
    missing = [user_id for user_id in set(ids) if user_id not in found]
    if missing:
        async with database.read() as connection:
            rows = await connection.execute(
                select(*(col(getattr(Account, name)) for name in VIEW_FIELDS)).where(
                    col(Account.id).in_(missing), col(Account.deleted_at).is_(None)
                )
            )
            views = [AccountView.from_row(row) for row in rows]
        found.update({view.id: view for view in views})
        await cache.add_many({_cache_key(view.id): view.to_json() for view in views})
    return [found.get(user_id) for user_id in ids]


async def update_profile(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID,
    expected_version: int,
    changes: Mapping[str, Any],
    today: date,
) -> AccountView:
    """Applies `changes` if the profile is still at `expected_version`, else `CONFLICT`."""
    current = await uow.session.get(Account, user_id)
    if current is None or current.deleted_at is not None:
        raise NotFound("No such user.", id=str(user_id))
    values = profile.profile_changes(
        changes, current_age_range=(current.min_age, current.max_age), today=today
    )
    if all(getattr(current, name) == value for name, value in values.items()):
        # Nothing would change: no new version, no event, but a stale version still loses.
        if current.version != expected_version:
            raise _stale(expected_version, current.version)
        return AccountView.from_row(current)
    result = await uow.session.exec(
        update(Account)
        .where(col(Account.id) == user_id, col(Account.version) == expected_version)
        .values(**values, version=Account.version + 1, updated_at=_now())
        .returning(Account)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    updated = result.scalars().first()
    if updated is None:
        raise _stale(expected_version, current.version)
    uow.publish(events.profile_updated(updated))
    return AccountView.from_row(updated)


def _stale(expected_version: int, current_version: int) -> Conflict:
    return Conflict(
        f"The profile changed since version {expected_version}; reload it and try again.",
        currentVersion=current_version,
    )


async def refresh_cache(cache: Cache, account: AccountView) -> None:
    """After a commit: every replica's reads see the new version at once (a slower
    writer of an older version does not replace it)."""
    await cache.put(_cache_key(account.id), account.to_json(), version=account.version)


async def forget_cached(cache: Cache, user_id: uuid.UUID, *, version: int) -> None:
    """After a deletion at `version`: no replica serves the account from the cache."""
    await cache.invalidate(_cache_key(user_id), version=version)


async def register_device(
    uow: UnitOfWork, *, user_id: uuid.UUID, token: str, platform: str
) -> Device:
    """Registers a push token and announces it; registering it again unchanged changes
    nothing, and a token registered by someone else moves to them (a new version)."""
    token = profile.device_token(token)
    now = _now()
    statement = (
        insert(Device)
        .values(
            id=uuid.uuid4(),
            user_id=user_id,
            token=token,
            platform=platform,
            version=1,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=["token"],
            set_={
                "user_id": user_id,
                "platform": platform,
                "updated_at": now,
                "removed_at": None,
                "version": Device.version + 1,
            },
            where=or_(
                col(Device.user_id) != user_id,
                col(Device.platform) != platform,
                col(Device.removed_at).is_not(None),
            ),
        )
        .returning(Device)
        .execution_options(populate_existing=True)
    )
    device = (await uow.session.exec(statement)).scalars().first()
    if device is None:
        # Already registered as asked: no new version, no event.
        return (await uow.session.exec(select(Device).where(Device.token == token))).one()
    uow.publish(events.device_registered(device))
    return device


async def _remove_devices(uow: UnitOfWork, *conditions: Any) -> list[Device]:
    """Marks the matching active devices removed (a new version each) and announces it."""
    now = _now()
    removed = list(
        (
            await uow.session.exec(
                update(Device)
                .where(*conditions, col(Device.removed_at).is_(None))
                .values(removed_at=now, updated_at=now, version=Device.version + 1)
                .returning(Device)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
        )
        .scalars()
        .all()
    )
    for device in removed:
        uow.publish(events.device_removed(device))
    return removed


async def remove_device(uow: UnitOfWork, *, user_id: uuid.UUID, token: str) -> bool:
    """Removes one of the member's push tokens; False if they had no such active token."""
    token = profile.device_token(token)
    removed = await _remove_devices(uow, col(Device.user_id) == user_id, col(Device.token) == token)
    return bool(removed)


async def forget_dead_device(uow: UnitOfWork, *, token: str, version: int) -> bool:
    """The push provider said this token is dead: removes it unless it was registered
    again since `version` (the registration the provider refused)."""
    removed = await _remove_devices(uow, col(Device.token) == token, col(Device.version) <= version)
    return bool(removed)


async def delete_account(uow: UnitOfWork, *, user_id: uuid.UUID) -> Account:
    """Closes the account, erases what identifies the member, ends their sessions and tells
    the other subgraphs. The email is free to register again."""
    account = await uow.session.get(Account, user_id, with_for_update=True)
    if account is None or account.deleted_at is not None:
        raise NotFound("No such user.", id=str(user_id))
    account.deleted_at = account.updated_at = _now()
    account.version += 1
    account.email = f"deleted-{account.id}@deleted.invalid"
    account.password_hash = ""
    account.display_name = "Deleted member"
    account.bio = account.latitude = account.longitude = None
    account.interests, account.languages = [], []
    await SESSIONS.revoke_all(uow.session, user_id)
    await _remove_devices(uow, col(Device.user_id) == user_id)
    uow.publish(events.user_deleted(account))
    return account


# -- staff reads ----------------------------------------------------------------------------

MAX_EMAIL_SEARCH = 254


async def account_for_staff(connection: AsyncConnection, *, user_id: uuid.UUID) -> Any | None:
    """A member's account as staff see it (deleted ones too), without credentials."""
    statement = select(*(col(getattr(Account, name)) for name in _STAFF_FIELDS)).where(
        col(Account.id) == user_id
    )
    return (await connection.execute(statement)).first()


async def search_accounts_by_email(
    connection: AsyncConnection, *, email: str, first: int, after: str | None
) -> list[Any]:
    """Accounts whose email starts with `email` (trimmed, lower case), newest first, one
    page and one more row; `BAD_USER_INPUT` for an empty or overlong search."""
    prefix = email.strip().lower()
    if not 1 <= len(prefix) <= MAX_EMAIL_SEARCH:
        raise BadUserInput(
            f"Search with 1 to {MAX_EMAIL_SEARCH} characters of the email.", field="email"
        )
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    statement = select(*(col(getattr(Account, name)) for name in _STAFF_FIELDS)).where(
        col(Account.email).like(f"{escaped}%")
    )
    condition = older_than(col(Account.created_at), col(Account.id), after, id_type=uuid.UUID)
    if condition is not None:
        statement = statement.where(condition)
    statement = statement.order_by(col(Account.created_at).desc(), col(Account.id).desc())
    return list(await connection.execute(statement.limit(first + 1)))


_STAFF_FIELDS = ("id", "email", "display_name", "version", "created_at", "updated_at", "deleted_at")
