"""Signed-in sessions, for the subgraphs that sign people in (members in the user subgraph,
staff in the admin subgraph): refresh tokens, the rate-limited sign-in and refresh flows,
and what such a subgraph serves (its state, its JWKS, the verifier that trusts its own key).

A refresh token is opaque, stored only as its SHA-256 in a table of the subgraph's own
(`id`, an owner column, `token_hash`, `created_at`, `expires_at`, `revoked_at`) and single
use: each refresh spends it for a new one. A spent token coming back means it leaked: every
session of its owner ends.

Limits (settings `KINDRED_LOGIN_*`): per account, only failures count (a success resets
them), and unknown emails or tokens are limited like known ones, so a refusal says nothing
about whether an account exists. Per client address, every attempt counts. Once limited,
even the right password is refused until the window has passed.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kindred import credentials
from kindred.auth import TokenVerifier, trusted_verifier
from kindred.context import RequestContext
from kindred.credentials import TokenIssuer
from kindred.db import Database
from kindred.errors import Unauthenticated
from kindred.ratelimit import RateLimit, RateLimiter, address_key
from kindred.settings import Settings


class _Account(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


AccountT = TypeVar("AccountT", bound=_Account)
AccountT_co = TypeVar("AccountT_co", bound=_Account, covariant=True)
OwnerT = TypeVar("OwnerT")


class Authenticate(Protocol[AccountT_co]):
    """A subgraph's check of credentials: the account, `UNAUTHENTICATED` for a wrong email
    or password, or another refusal for an account that may not sign in."""

    def __call__(
        self, session: AsyncSession, *, email: str, password: str
    ) -> Awaitable[AccountT_co]: ...


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RefreshTokens:
    """The refresh tokens of one kind of account: rows of `model`, whose `owner` column
    holds the account's id; the refresh limit counts an owner's failures as `limit_key:id`."""

    model: type[SQLModel]
    owner: str
    limit_key: str

    def _column(self, name: str) -> Any:
        return col(getattr(self.model, name))

    async def issue(self, session: AsyncSession, *, owner_id: uuid.UUID, ttl_seconds: int) -> str:
        """A new refresh token of `owner_id`, valid for `ttl_seconds`."""
        token, token_hash = credentials.new_refresh_token()
        now = _now()
        row: Any = self.model(
            token_hash=token_hash,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
            **{self.owner: owner_id},
        )
        session.add(row)
        return token

    async def rotate(
        self, session: AsyncSession, *, token_hash: str, ttl_seconds: int
    ) -> tuple[uuid.UUID, str]:
        """Spends a refresh token for a new one: its owner and the new token. Reusing a
        spent token revokes every token of the owner (`UNAUTHENTICATED` either way)."""
        stored: Any = (
            await session.exec(
                select(self.model).where(self._column("token_hash") == token_hash).with_for_update()
            )
        ).first()
        now = _now()
        if stored is None or stored.expires_at <= now:
            raise Unauthenticated("The refresh token is unknown or expired; sign in again.")
        owner_id: uuid.UUID = getattr(stored, self.owner)
        if stored.revoked_at is not None:
            # A spent token coming back means it leaked: end every session of its owner.
            await self.revoke_all(session, owner_id)
            raise Unauthenticated("The refresh token was already used; sign in again.")
        stored.revoked_at = now
        session.add(stored)
        return owner_id, await self.issue(session, owner_id=owner_id, ttl_seconds=ttl_seconds)

    async def revoke_all(self, session: AsyncSession, owner_id: uuid.UUID) -> None:
        """Ends every session of `owner_id`."""
        await session.exec(
            update(self.model)
            .where(self._column(self.owner) == owner_id, self._column("revoked_at").is_(None))
            .values(revoked_at=_now())
        )

    async def revoke(self, session: AsyncSession, *, token: str) -> None:
        """Ends the session of `token`; revoking twice, or an unknown token, is not an error."""
        await session.exec(
            update(self.model)
            .where(
                self._column("token_hash") == credentials.hash_refresh_token(token),
                self._column("revoked_at").is_(None),
            )
            .values(revoked_at=_now())
        )

    async def end(self, database: Database, *, token: str) -> None:
        """`revoke` in a transaction of its own (signing out)."""
        async with database.session() as session, session.begin():
            await self.revoke(session, token=token)

    async def owner_of(self, database: Database, token_hash: str) -> uuid.UUID | None:
        """Whose token this is (spent or not), or None if it is unknown."""
        async with database.read() as connection:
            owner: uuid.UUID | None = (
                await connection.execute(
                    select(self._column(self.owner)).where(self._column("token_hash") == token_hash)
                )
            ).scalar()
        return owner


@dataclass(frozen=True)
class SignInLimits:
    """Brute-force limits on signing in and on refreshing a session, the rules named
    `<prefix>login-account`, `<prefix>login-address`, `<prefix>refresh-account` and
    `<prefix>refresh-address` (each subgraph that signs people in counts its own)."""

    login_account: RateLimit
    login_address: RateLimit
    refresh_account: RateLimit
    refresh_address: RateLimit

    @classmethod
    def from_settings(cls, settings: Settings, *, prefix: str = "") -> SignInLimits:
        failures = settings.login_account_failures
        failure_window = settings.login_account_window_seconds
        attempts = settings.login_address_attempts
        attempt_window = settings.login_address_window_seconds
        return cls(
            login_account=RateLimit(
                f"{prefix}login-account",
                failures,
                failure_window,
                message="Too many sign-in attempts for this account; try again in {wait}.",
            ),
            login_address=RateLimit(
                f"{prefix}login-address",
                attempts,
                attempt_window,
                message="Too many sign-in attempts from your network; try again in {wait}.",
            ),
            refresh_account=RateLimit(
                f"{prefix}refresh-account",
                failures,
                failure_window,
                message="Too many failed session refreshes for this account; try again in {wait}.",
            ),
            refresh_address=RateLimit(
                f"{prefix}refresh-address",
                attempts,
                attempt_window,
                message="Too many session refreshes from your network; try again in {wait}.",
            ),
        )


async def sign_in(
    database: Database,
    limiter: RateLimiter,
    limits: SignInLimits,
    tokens: RefreshTokens,
    *,
    email: str,
    password: str,
    address: str | None,
    refresh_ttl_seconds: int,
    authenticate: Authenticate[AccountT],
) -> tuple[AccountT, str]:
    """The account `authenticate` finds and a new refresh token, within the sign-in limits
    (`RATE_LIMITED`).

    The account's attempt is counted before the password is checked (so concurrent guesses
    are bounded too). An `UNAUTHENTICATED` from `authenticate` (a wrong password) stays
    counted; any other refusal (a banned member, a disabled staff account) or failure (the
    database is down) takes the attempt back, and a success forgets the account's failures."""
    await limiter.hit(limits.login_address, address_key(address))
    account_key = email.strip().lower()
    attempt = await limiter.hit(limits.login_account, account_key)
    try:
        async with database.session() as session, session.begin():
            account = await authenticate(session, email=email, password=password)
            refresh = await tokens.issue(
                session, owner_id=account.id, ttl_seconds=refresh_ttl_seconds
            )
    except Unauthenticated:
        raise  # a failed attempt: it stays counted
    except Exception:
        await limiter.undo(attempt)  # not the caller's failure
        raise
    await limiter.reset(limits.login_account, account_key)
    return account, refresh


async def refresh_session(
    database: Database,
    limiter: RateLimiter,
    limits: SignInLimits,
    tokens: RefreshTokens,
    *,
    token: str,
    address: str | None,
    refresh_ttl_seconds: int,
    check_owner: Callable[[AsyncSession, uuid.UUID], Awaitable[OwnerT]],
) -> tuple[OwnerT, str]:
    """`RefreshTokens.rotate` within the sign-in limits: failures count against the owner
    of the token (or the token itself, if it is unknown), attempts against the client
    address. What `check_owner` answers for the token's owner is returned with the new token.

    An unknown, expired or reused token is `UNAUTHENTICATED`, and what the refusal did is
    committed (a reuse ends every session of the owner). A refusal by `check_owner` (say,
    `FORBIDDEN`) rolls back: the token stays unspent, and the attempt is taken back."""
    await limiter.hit(limits.refresh_address, address_key(address))
    token_hash = credentials.hash_refresh_token(token)
    owner = await tokens.owner_of(database, token_hash)
    account_key = f"{tokens.limit_key}:{owner}" if owner is not None else f"token:{token_hash}"
    attempt = await limiter.hit(limits.refresh_account, account_key)
    try:
        async with database.session() as session:
            refused: Unauthenticated | None = None
            async with session.begin():
                try:
                    owner_id, refresh = await tokens.rotate(
                        session, token_hash=token_hash, ttl_seconds=refresh_ttl_seconds
                    )
                except Unauthenticated as error:
                    refused = error  # commit what the refusal did
                else:
                    # Raised out of the transaction: the token stays unspent.
                    checked = await check_owner(session, owner_id)
            if refused is not None:
                raise refused
    except Unauthenticated:
        raise
    except Exception:
        await limiter.undo(attempt)
        raise
    await limiter.reset(limits.refresh_account, account_key)
    return checked, refresh


# -- what a subgraph that signs people in serves ----------------------------------------------


@dataclass(frozen=True)
class SignInState:
    """The long-lived objects of a subgraph that signs people in (its `Platform.state`)."""

    issuer: TokenIssuer
    limits: SignInLimits


def state_of(context: RequestContext) -> SignInState:
    """The request's subgraph's `SignInState`."""
    state: SignInState = context.platform.state
    return state


async def _jwks(request: Request) -> JSONResponse:
    state: SignInState = request.app.state.platform.state
    return JSONResponse(state.issuer.jwks(), headers={"Cache-Control": "public, max-age=300"})


def jwks_route() -> Route:
    """`/.well-known/jwks.json`: the public keys of the subgraph's token issuer, which every
    subgraph fetches to verify the tokens it signs."""
    return Route("/.well-known/jwks.json", _jwks)


def local_verifier(*, staff: bool) -> Callable[[Settings, SignInState], TokenVerifier]:
    """The subgraph's verifier: it trusts its own issuer's keys without an HTTP hop (as the
    staff issuer when `staff`, else as the members'), and the other issuer by its JWKS URL."""

    def verifier(settings: Settings, state: SignInState) -> TokenVerifier:
        async def own_keys() -> dict[str, Any]:
            return state.issuer.jwks()

        if staff:
            return trusted_verifier(settings, staff_keys=own_keys)
        return trusted_verifier(settings, member_keys=own_keys)

    return verifier
