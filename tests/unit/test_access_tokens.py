"""Access tokens signed by the user subgraph verify anywhere that has its JWKS."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from kindred.auth import TokenVerifier, bearer_token
from kindred.credentials import TokenIssuer, hash_password, verify_password
from kindred.errors import Unauthenticated, Unavailable


def _issuer() -> TokenIssuer:
    return TokenIssuer(
        ec.generate_private_key(ec.SECP256R1()), issuer="kindred-user", ttl_seconds=60
    )


def _verifier(*issuers: TokenIssuer) -> TokenVerifier:
    async def jwks() -> dict[str, Any]:
        return {"keys": [key for issuer in issuers for key in issuer.jwks()["keys"]]}

    return TokenVerifier({"kindred-user": jwks}, min_refresh_interval=0)


def _verify(verifier: TokenVerifier, token: str) -> str:
    return asyncio.run(verifier.verify(token)).user_id


def test_a_fresh_token_names_its_member() -> None:
    issuer = _issuer()
    user_id = uuid.uuid4()
    assert _verify(_verifier(issuer), issuer.access_token(user_id)) == str(user_id)


def test_an_expired_token_is_refused() -> None:
    issuer = _issuer()
    old = issuer.access_token(uuid.uuid4(), now=datetime.now(UTC) - timedelta(minutes=5))
    with pytest.raises(Unauthenticated, match="expired"):
        _verify(_verifier(issuer), old)


def test_a_token_from_another_key_is_refused() -> None:
    with pytest.raises(Unauthenticated):
        _verify(_verifier(_issuer()), _issuer().access_token(uuid.uuid4()))


def test_a_tampered_token_is_refused() -> None:
    issuer = _issuer()
    header, claims, signature = issuer.access_token(uuid.uuid4()).split(".")
    with pytest.raises(Unauthenticated):
        _verify(_verifier(issuer), f"{header}.{claims}x.{signature}")


def test_the_bearer_scheme_is_required() -> None:
    assert bearer_token(None) is None
    assert bearer_token("Bearer abc") == "abc"
    with pytest.raises(Unauthenticated):
        bearer_token("Basic abc")


def test_passwords_verify_only_against_their_hash() -> None:
    stored = hash_password("correct horse")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "wrong horse")
    assert not verify_password(None, "correct horse")


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    issuer = _issuer()
    verifier = _verifier(issuer)
    user_id = uuid.uuid4()
    almost_expired = issuer.access_token(user_id, now=datetime.now(UTC) - timedelta(seconds=59))

    async def scenario() -> None:
        assert (await verifier.verify(almost_expired)).user_id == str(user_id)
        assert (await verifier.verify(almost_expired)).user_id == str(user_id)
        await asyncio.sleep(1.2)
        with pytest.raises(Unauthenticated, match="expired"):
            await verifier.verify(almost_expired)

    asyncio.run(scenario())


def test_an_unreachable_key_set_is_unavailable_not_unauthenticated() -> None:
    async def unreachable() -> dict[str, Any]:
        raise ConnectionError("connection refused")

    verifier = TokenVerifier({"kindred-user": unreachable}, min_refresh_interval=0)
    with pytest.raises(Unavailable):
        _verify(verifier, _issuer().access_token(uuid.uuid4()))
