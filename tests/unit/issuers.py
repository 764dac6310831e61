"""A members' and a staff issuer, each with a key of its own, and a verifier trusting both
(the staff one as staff), for the unit tests of tokens."""

import asyncio
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from kindred.auth import Identity, TokenVerifier
from kindred.credentials import TokenIssuer


def issuer(name: str) -> TokenIssuer:
    return TokenIssuer(ec.generate_private_key(ec.SECP256R1()), issuer=name, ttl_seconds=60)


MEMBERS = issuer("kindred-user")
STAFF = issuer("kindred-admin")


def verifier() -> TokenVerifier:
    def keys(issuer: TokenIssuer) -> Any:
        async def jwks() -> dict[str, Any]:
            return issuer.jwks()

        return jwks

    return TokenVerifier(
        {"kindred-user": keys(MEMBERS), "kindred-admin": keys(STAFF)},
        staff_issuers=["kindred-admin"],
        min_refresh_interval=0,
    )


def verify(token: str) -> Identity:
    return asyncio.run(verifier().verify(token))


def signed(issuer: TokenIssuer, extra: dict[str, Any], ttl: int = 60) -> str:
    """A token of `issuer` with `extra` claims (as no issuer of Kindred's would sign)."""
    return issuer._sign({**issuer._claims(uuid.uuid4(), None, ttl), **extra})
