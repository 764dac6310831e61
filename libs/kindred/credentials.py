"""Credentials: argon2 password hashes, ES256 signing keys, access and refresh tokens (the
user subgraph's for members, the admin subgraph's for staff) and banned members' appeal
tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kindred.auth import (
    ACCESS_TYPE,
    ACTION_CLAIM,
    ACTION_TOKEN_TTL_SECONDS,
    ALGORITHM,
    APPEAL_TOKEN_TTL_SECONDS,
    APPEAL_TYPE,
    AUDIENCE,
    AUDIT_CLAIM,
)
from kindred.settings import Settings

_hasher = PasswordHasher()
# Verifying against this when the email is unknown keeps login timing the same.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the hash that is stored instead of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def load_or_create_signing_key(path: Path, *, create: bool = True) -> ec.EllipticCurvePrivateKey:
    """The P-256 signing key at `path`, created (readable by its owner only) if missing and
    `create`; without `create` (the key comes from a Secret) a missing key is an error."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path.name} is not an EC private key")
        return key
    if not create:
        raise FileNotFoundError(
            f"the JWT signing key {path} is missing (KINDRED_JWT_CREATE_KEY=0: "
            "every replica must sign with the key from the Secret, none may make its own)"
        )
    key = ec.generate_private_key(ec.SECP256R1())
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    return key


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


def load_published_keys(path: Path | None) -> list[ec.EllipticCurvePublicKey]:
    """The P-256 keys in a PEM file besides the signing key, published in the JWKS (the
    previous key until its tokens expire, the next one before replicas sign with it).
    A private key counts as its public half; a missing file or no path means none."""
    if path is None or not path.exists():
        return []
    keys = []
    for block in _PEM_BLOCK.finditer(path.read_bytes()):
        pem = block.group(0)
        if b"PRIVATE" in block.group(1):
            private = serialization.load_pem_private_key(pem, password=None)
            public = private.public_key()
        else:
            public = serialization.load_pem_public_key(pem)
        if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
            raise ValueError(f"{path.name}: every published key must be a P-256 (EC) key")
        keys.append(public)
    return keys


def _b64(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode()


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The key as a JWK, its RFC 7638 thumbprint as the key id (a rotated key gets a new id)."""
    numbers = key.public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": _b64(numbers.x), "y": _b64(numbers.y)}
    canonical = json.dumps(jwk, sort_keys=True, separators=(",", ":"))
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest())
    return {**jwk, "kid": kid.rstrip(b"=").decode(), "use": "sig", "alg": ALGORITHM}


class TokenIssuer:
    """Signs access tokens and publishes the matching public key as a JWKS, with any
    `published` keys (rotation: the previous key until its tokens expire, the next key)."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        issuer: str,
        ttl_seconds: int,
        published: Sequence[ec.EllipticCurvePublicKey] = (),
    ) -> None:
        self._key = key
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds
        signing = public_jwk(key.public_key())
        self.kid_str = signing["kid"]
        self._keys = [signing]
        for public in published:
            jwk = public_jwk(public)
            if all(jwk["kid"] != known["kid"] for known in self._keys):
                self._keys.append(jwk)

    def jwks(self) -> dict[str, Any]:
        """The signing key first, then the published ones."""
        return {"keys": [dict(jwk) for jwk in self._keys]}

    def access_token(
        self,
        user_id: uuid.UUID,
        now: datetime | None = None,
        *,
        roles: Sequence[str] = (),
        scopes: Sequence[str] = (),
    ) -> str:
        """A signed access token for `user_id` (a member, or a staff member when this is the
        staff issuer); staff `roles` and the `scope` claim only when given."""
        claims = self._claims(user_id, now, self.ttl_seconds)
        if roles:
            claims["roles"] = sorted(roles)
        if scopes:
            claims["scope"] = " ".join(sorted(scopes))
        return self._sign(claims)

    def action_token(
        self,
        staff_id: uuid.UUID,
        *,
        scopes: Sequence[str],
        audit_id: uuid.UUID | str,
        mutation: str,
        now: datetime | None = None,
    ) -> str:
        """A staff token for one audited action (the staff issuer's): the staff member as
        subject, only `scopes`, the audit entry's id, the owner's `mutation` it may be used
        on, and `ACTION_TOKEN_TTL_SECONDS` to live."""
        if not scopes:
            raise ValueError("an action token carries the scope its action needs")
        if not mutation:
            raise ValueError("an action token names the mutation it is for")
        claims = self._claims(staff_id, now, ACTION_TOKEN_TTL_SECONDS)
        claims["scope"] = " ".join(sorted(scopes))
        claims[AUDIT_CLAIM] = str(audit_id)
        claims[ACTION_CLAIM] = mutation
        return self._sign(claims)

    def appeal_token(self, user_id: uuid.UUID, now: datetime | None = None) -> str:
        """A banned member's appeal token (the user subgraph's, for a sign-in with the right
        password): the member as subject, `typ` appeal, `APPEAL_TOKEN_TTL_SECONDS` to live.
        It lets them read and appeal their ban and nothing else (kindred.context)."""
        return self._sign(self._claims(user_id, now, APPEAL_TOKEN_TTL_SECONDS, typ=APPEAL_TYPE))

    def _claims(
        self, subject: uuid.UUID, now: datetime | None, ttl: int, *, typ: str = ACCESS_TYPE
    ) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        return {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": str(subject),
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=ttl)).timestamp()),
            "jti": uuid.uuid4().hex,
            "typ": typ,
        }

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid_str})


def member_token_issuer(settings: Settings) -> TokenIssuer:
    """Signs members' tokens (the user subgraph's): its key, the published keys beside it."""
    return TokenIssuer(
        load_or_create_signing_key(settings.jwt_private_key_path, create=settings.jwt_create_key),
        issuer=settings.jwt_issuer,
        ttl_seconds=settings.access_token_ttl_seconds,
        published=load_published_keys(settings.jwt_published_keys_path),
    )


def staff_token_issuer(settings: Settings) -> TokenIssuer:
    """Signs staff tokens with the admin subgraph's own key (never the members' key)."""
    return TokenIssuer(
        load_or_create_signing_key(
            settings.staff_jwt_private_key_path, create=settings.jwt_create_key
        ),
        issuer=settings.staff_jwt_issuer,
        ttl_seconds=settings.staff_access_token_ttl_seconds,
    )
