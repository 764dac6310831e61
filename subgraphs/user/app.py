"""Wiring of the user subgraph (`uvicorn subgraphs.user.app:app`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kindred.app import Subgraph, create_app
from kindred.auth import TokenVerifier, trusted_verifier
from kindred.credentials import (
    TokenIssuer,
    load_or_create_signing_key,
    load_published_keys,
)
from kindred.settings import Settings
from subgraphs.user.handlers import HANDLERS
from subgraphs.user.schema import UserState, schema
from subgraphs.user.service import SignInLimits


def token_issuer(settings: Settings) -> TokenIssuer:
    return TokenIssuer(
        load_or_create_signing_key(settings.jwt_private_key_path, create=settings.jwt_create_key),
        issuer=settings.jwt_issuer,
        ttl_seconds=settings.access_token_ttl_seconds,
        published=load_published_keys(settings.jwt_published_keys_path),
    )


def user_state(settings: Settings) -> UserState:
    return UserState(
        issuer=token_issuer(settings),
        limits=SignInLimits.from_settings(settings),
    )


def local_verifier(settings: Settings, state: UserState) -> TokenVerifier:
    async def jwks() -> dict[str, Any]:
        return state.issuer.jwks()

    return trusted_verifier(settings, member_keys=jwks)


async def jwks(request: Request) -> JSONResponse:
    state: UserState = request.app.state.platform.state
    return JSONResponse(state.issuer.jwks(), headers={"Cache-Control": "public, max-age=300"})


SUBGRAPH = Subgraph(
    name="user",
    schema=schema,
    migrations_dir=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
    routes=[Route("/.well-known/jwks.json", jwks)],
    state=user_state,
    verifier=local_verifier,
)


def build(settings: Settings | None = None):
    return create_app(SUBGRAPH, settings)


app = build()
