"""Credentials: argon2 password hashes, the ES256 signing key, access and refresh tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import os
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

from kindred.auth import ALGORITHM, AUDIENCE

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


def load_or_create_signing_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The P-256 signing key at `path`, created (readable by its owner only) if missing."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path.name} is not an EC private key")
        return key
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


def _b64(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode()


class TokenIssuer:
    """Signs access tokens and publishes the matching public key as a JWKS."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, *, issuer: str, ttl_seconds: int) -> None:
        self._key = key
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds
        numbers = key.public_key().public_numbers()
        self._public_jwk = {"kty": "EC", "crv": "P-256", "x": _b64(numbers.x), "y": _b64(numbers.y)}
        # RFC 7638 thumbprint as the key id, so a rotated key gets a new id.
        canonical = json.dumps(self._public_jwk, sort_keys=True, separators=(",", ":"))
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest())
        self.kid_str = self.kid.rstrip(b"=").decode()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self._public_jwk, "kid": self.kid_str, "use": "sig", "alg": ALGORITHM}]}

    def access_token(
        self, user_id: uuid.UUID, now: datetime | None = None, *, roles: Sequence[str] = ()
    ) -> str:
        """A signed access token; `roles` (staff roles such as `moderator`) only when given."""
        now = now or datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.ttl_seconds)).timestamp()),
            "jti": uuid.uuid4().hex,
            "typ": "access",
        }
        if roles:
            claims["roles"] = sorted(roles)
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid_str})
