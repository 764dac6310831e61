"""Bearer-token verification: every subgraph checks the user subgraph's JWTs itself."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from jwt import PyJWK

from kindred.errors import Unauthenticated, Unavailable

if TYPE_CHECKING:
    from kindred.settings import Settings

log = logging.getLogger(__name__)

ALGORITHM = "ES256"
AUDIENCE = "kindred"
# An action token's claim naming the audit-log entry of the one staff action it is for.
AUDIT_CLAIM = "kindred_audit"
# An action token's claim naming the owner's one mutation it may be used on.
ACTION_CLAIM = "kindred_action"
# An action token lives this long at most: the owner acts on it at once.
ACTION_TOKEN_TTL_SECONDS = 60
# An appeal token lives this long at most: time to read why one is banned and appeal it.
APPEAL_TOKEN_TTL_SECONDS = 15 * 60
# A token's `typ` claim: an access token, or a banned member's appeal token.
ACCESS_TYPE = "access"
APPEAL_TYPE = "appeal"

JwksSource = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Identity:
    """Who is calling, as proven by a verified token.

    A member's token comes from the user subgraph; a staff member's from the admin
    subgraph's staff sign-in (`staff` is true), carrying their `roles` and the `scopes`
    those grant (kindred.staff). Members' tokens carry no scopes.

    An action token is a staff token the admin subgraph mints for one staff action it has
    put in its audit log: the staff member as subject, only the scope the action needs,
    `audit_id`, the audit entry's id, and `action`, the owner's mutation it is for
    (kindred.staff's audited mutations require both, and that `action` names them).

    An appeal token is a member's token the user subgraph hands a banned member who signed
    in with the right password (`APPEAL_TOKEN_TTL_SECONDS` at most): `appeal_only`, it proves
    who they are only to the fields that let them see and appeal their ban, which opt in
    (kindred.context, `appeal=True`); everywhere else it is `UNAUTHENTICATED`."""

    user_id: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    staff: bool = False
    audit_id: str | None = None
    action: str | None = None
    appeal_only: bool = False


def trusted_verifier(
    settings: Settings,
    *,
    member_keys: JwksSource | None = None,
    staff_keys: JwksSource | None = None,
) -> TokenVerifier:
    """The verifier every subgraph uses: members' tokens from the user subgraph, staff
    tokens from the admin subgraph, each against its JWKS (fetched from the settings' URLs
    unless given, as the issuing subgraph itself and tests do)."""
    return TokenVerifier(
        {
            settings.jwt_issuer: member_keys or jwks_from_url(settings.jwks_url),
            settings.staff_jwt_issuer: staff_keys or jwks_from_url(settings.staff_jwks_url),
        },
        staff_issuers=[settings.staff_jwt_issuer],
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header, if there is one."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("The Authorization header must be `Bearer <access token>`.")
    return token.strip()


def jwks_from_url(url: str, *, timeout: float = 3.0) -> JwksSource:
    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url)
            response.raise_for_status()
            return dict(response.json())

    return fetch


class _IssuerKeys:
    """One issuer's JWKS, refetched when an unknown key id shows up (at most every
    `min_refresh_interval` seconds)."""

    def __init__(self, source: JwksSource, *, min_refresh_interval: float) -> None:
        self._source = source
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = float("-inf")
        self._fetch_failed = False
        self._min_refresh_interval = min_refresh_interval
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> PyJWK:
        if kid not in self._keys:
            async with self._lock:
                stale = time.monotonic() - self._fetched_at >= self._min_refresh_interval
                if kid not in self._keys and stale:
                    await self._refresh()
        if kid in self._keys:
            return self._keys[kid]
        if self._fetch_failed:
            # Not the caller's fault: the token may be fine, we cannot check it now.
            raise Unavailable("Access tokens cannot be verified right now; try again shortly.")
        raise Unauthenticated("The access token was signed by an unknown key.")

    async def _refresh(self) -> None:
        try:
            jwks = await self._source()
        except Exception as error:
            log.warning("auth: fetching the JWKS failed: %r", error)
            self._fetch_failed = True
            return
        self._keys = {key["kid"]: PyJWK(key) for key in jwks.get("keys", []) if "kid" in key}
        self._fetched_at = time.monotonic()
        self._fetch_failed = False


class TokenVerifier:
    """Verifies access tokens from the issuers it trusts, each against its own JWKS: a
    token's `iss` picks the keys, so one issuer's key never vouches for another's tokens.
    Tokens of the `staff_issuers` are staff tokens, whose `scope` claim grants scopes.
    A member issuer's appeal token verifies too, as an `appeal_only` identity."""

    def __init__(
        self,
        issuers: Mapping[str, JwksSource],
        *,
        staff_issuers: Collection[str] = (),
        min_refresh_interval: float = 10.0,
        verified_cache_size: int = 10_000,
    ) -> None:
        self._issuers = {
            issuer: _IssuerKeys(source, min_refresh_interval=min_refresh_interval)
            for issuer, source in issuers.items()
        }
        self._staff_issuers = frozenset(staff_issuers)
        # A client sends the same token on every request: remember what was verified,
        # until the token expires (signature checks are most of a small request's cost).
        self._verified: OrderedDict[str, tuple[Identity, float]] = OrderedDict()
        self._verified_max = verified_cache_size

    async def verify(self, token: str) -> Identity:
        """The identity in a valid access token (or a member's appeal token, `appeal_only`);
        `UNAUTHENTICATED` for anything else."""
        remembered = self._verified.get(token)
        if remembered is not None and remembered[1] > time.time():
            self._verified.move_to_end(token)
            return remembered[0]
        identity, expires_at = await self._verify_signature(token)
        self._verified[token] = (identity, expires_at)
        if len(self._verified) > self._verified_max:
            self._verified.popitem(last=False)
        return identity

    async def _verify_signature(self, token: str) -> tuple[Identity, float]:
        try:
            header = jwt.get_unverified_header(token)
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            raise Unauthenticated("The access token is malformed.") from None
        keys = self._issuers.get(issuer) if isinstance(issuer, str) else None
        if keys is None:
            raise Unauthenticated("The access token comes from an issuer Kindred does not trust.")
        key = await keys.key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=issuer,
                options={"require": ["exp", "sub", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The access token has expired; refresh it.") from None
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"The access token is invalid: {error}.") from None
        staff = issuer in self._staff_issuers
        appeal_only = _claimed_appeal(claims, staff=staff)
        audit_id = _claimed_audit(claims, staff=staff)
        identity = Identity(
            user_id=str(claims["sub"]),
            roles=_claimed_roles(claims, staff=staff),
            scopes=_claimed_scopes(claims, staff=staff),
            staff=staff,
            audit_id=audit_id,
            action=_claimed_action(claims, audit_id=audit_id),
            appeal_only=appeal_only,
        )
        return identity, float(claims["exp"])


def _claimed_appeal(claims: Mapping[str, Any], *, staff: bool) -> bool:
    """Whether the token (`typ`) is an appeal token rather than an access token: only a
    member's may be (moderation bans members, never staff), and it lives
    `APPEAL_TOKEN_TTL_SECONDS` at most. Any other `typ` is refused."""
    kind = claims.get("typ")
    if kind == ACCESS_TYPE:
        return False
    if kind != APPEAL_TYPE:
        raise Unauthenticated("This is not an access token.")
    if staff:
        raise Unauthenticated("Only a member's token may be an appeal token.")
    if float(claims["exp"]) - float(claims["iat"]) > APPEAL_TOKEN_TTL_SECONDS:
        raise Unauthenticated(f"An appeal token lives at most {APPEAL_TOKEN_TTL_SECONDS} seconds.")
    return True


def _claimed_roles(claims: Mapping[str, Any], *, staff: bool) -> frozenset[str]:
    """The staff `roles` claim; a member's token has none (the user subgraph never signs one)."""
    roles = claims.get("roles") or []
    if roles and not staff:
        raise Unauthenticated("A member's access token carries no roles.")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise Unauthenticated("The access token's `roles` claim is malformed.")
    return frozenset(roles)


def _claimed_scopes(claims: Mapping[str, Any], *, staff: bool) -> frozenset[str]:
    """The `scope` claim (space-separated, as OAuth writes it); only staff tokens have one."""
    scope = claims.get("scope")
    if scope is None:
        return frozenset()
    if not staff:
        raise Unauthenticated("A member's access token carries no scopes.")
    if not isinstance(scope, str):
        raise Unauthenticated("The access token's `scope` claim is malformed.")
    return frozenset(scope.split())


def _claimed_audit(claims: Mapping[str, Any], *, staff: bool) -> str | None:
    """The audit entry an action token is for (only staff tokens name one, and such a token
    lives `ACTION_TOKEN_TTL_SECONDS` at most)."""
    audit_id = claims.get(AUDIT_CLAIM)
    if audit_id is None:
        return None
    if not staff:
        raise Unauthenticated("A member's access token names no audit entry.")
    if not isinstance(audit_id, str) or not audit_id.strip():
        raise Unauthenticated(f"The access token's `{AUDIT_CLAIM}` claim is malformed.")
    if float(claims["exp"]) - float(claims["iat"]) > ACTION_TOKEN_TTL_SECONDS:
        raise Unauthenticated(f"An action token lives at most {ACTION_TOKEN_TTL_SECONDS} seconds.")
    return audit_id


def _claimed_action(claims: Mapping[str, Any], *, audit_id: str | None) -> str | None:
    """The owner's mutation an action token is for: every action token names one, and no
    other token does."""
    action = claims.get(ACTION_CLAIM)
    if audit_id is None:
        if action is not None:
            raise Unauthenticated(f"Only an action token names a mutation (`{ACTION_CLAIM}`).")
        return None
    if not isinstance(action, str) or not action.strip():
        raise Unauthenticated(
            f"An action token names the one mutation it is for (`{ACTION_CLAIM}`)."
        )
    return action
