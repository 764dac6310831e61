"""The signing key from a Secret: every replica signs with it, and a rotation keeps the old
public key in the JWKS (KINDRED_JWT_PUBLISHED_KEYS_PATH) so its tokens verify until they expire."""

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kindred.auth import TokenVerifier
from kindred.credentials import (
    TokenIssuer,
    load_or_create_signing_key,
    load_published_keys,
    member_token_issuer,
)
from kindred.errors import Unauthenticated
from kindred.settings import load_settings


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _verifier(jwks: dict[str, Any]) -> TokenVerifier:
    async def source() -> dict[str, Any]:
        return jwks

    return TokenVerifier({"kindred-user": source}, min_refresh_interval=0)


def _verify(jwks: dict[str, Any], token: str) -> str:
    return asyncio.run(_verifier(jwks).verify(token)).user_id


@pytest.fixture
def secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A mounted Secret: the signing key, and the previous key's public half published."""
    mount = tmp_path / "secret"
    mount.mkdir()
    (mount / "signing.pem").write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    monkeypatch.setenv("KINDRED_JWT_PRIVATE_KEY_PATH", str(mount / "signing.pem"))
    monkeypatch.setenv("KINDRED_JWT_PUBLISHED_KEYS_PATH", str(mount / "published.pem"))
    monkeypatch.setenv("KINDRED_JWT_CREATE_KEY", "0")
    monkeypatch.setenv("KINDRED_DATA_DIR", str(tmp_path / "data"))
    return mount


def test_replicas_built_from_the_same_secret_verify_each_others_tokens(secret: Path) -> None:
    one, two = (
        member_token_issuer(load_settings("user")),
        member_token_issuer(load_settings("user")),
    )
    member = uuid.uuid4()
    assert one.kid_str == two.kid_str
    assert _verify(two.jwks(), one.access_token(member)) == str(member)
    assert _verify(one.jwks(), two.access_token(member)) == str(member)
    assert not (secret.parent / "data").exists(), "a replica wrote a key of its own"


def test_a_missing_secret_key_fails_instead_of_making_a_key(secret: Path) -> None:
    (secret / "signing.pem").unlink()
    with pytest.raises(FileNotFoundError, match="KINDRED_JWT_CREATE_KEY"):
        member_token_issuer(load_settings("user"))
    assert not (secret / "signing.pem").exists()


def test_the_dev_default_still_creates_the_key_in_the_data_dir(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "jwt-signing.pem"
    first = load_or_create_signing_key(path)
    assert path.exists()
    assert _pem(load_or_create_signing_key(path)) == _pem(first)


def test_after_rotation_the_jwks_lists_the_new_and_the_previous_key(secret: Path) -> None:
    old = member_token_issuer(load_settings("user"))
    member = uuid.uuid4()
    old_token = old.access_token(member)
    # Rotate: the old private key's public half is published, a new key signs.
    old_private = (secret / "signing.pem").read_bytes()
    old_key = serialization.load_pem_private_key(old_private, password=None)
    assert isinstance(old_key, ec.EllipticCurvePrivateKey)
    (secret / "published.pem").write_bytes(_public_pem(old_key))
    (secret / "signing.pem").write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    new = member_token_issuer(load_settings("user"))

    kids = [key["kid"] for key in new.jwks()["keys"]]
    assert kids == [new.kid_str, old.kid_str], "the signing key first, then the previous one"
    assert _verify(new.jwks(), old_token) == str(member), "the old key's token still verifies"
    assert _verify(new.jwks(), new.access_token(member)) == str(member)

    # Once its tokens have expired the previous key is dropped; its tokens are refused.
    (secret / "published.pem").unlink()
    dropped = member_token_issuer(load_settings("user"))
    assert [key["kid"] for key in dropped.jwks()["keys"]] == [new.kid_str]
    with pytest.raises(Unauthenticated, match="unknown key"):
        _verify(dropped.jwks(), old_token)


def test_a_verifier_refetches_the_jwks_for_a_key_it_does_not_know() -> None:
    old_key, new_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    current = {"issuer": TokenIssuer(old_key, issuer="kindred-user", ttl_seconds=60)}
    fetches = []

    async def source() -> dict[str, Any]:
        fetches.append(1)
        return current["issuer"].jwks()

    verifier = TokenVerifier({"kindred-user": source}, min_refresh_interval=0)
    member = uuid.uuid4()

    async def scenario() -> None:
        await verifier.verify(current["issuer"].access_token(member))
        rotated = TokenIssuer(
            new_key, issuer="kindred-user", ttl_seconds=60, published=[old_key.public_key()]
        )
        current["issuer"] = rotated
        assert (await verifier.verify(rotated.access_token(member))).user_id == str(member)

    asyncio.run(scenario())
    assert len(fetches) == 2, "the new key id made the verifier fetch the JWKS again"


def test_published_keys_accept_public_and_private_pem_and_refuse_other_curves(
    tmp_path: Path,
) -> None:
    assert load_published_keys(None) == []
    assert load_published_keys(tmp_path / "absent.pem") == []
    one, two = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "published.pem"
    path.write_bytes(_public_pem(one) + b"\n" + _pem(two))
    assert [key.public_numbers() for key in load_published_keys(path)] == [
        one.public_key().public_numbers(),
        two.public_key().public_numbers(),
    ]
    path.write_bytes(_public_pem(ec.generate_private_key(ec.SECP384R1())))
    with pytest.raises(ValueError, match="P-256"):
        load_published_keys(path)
