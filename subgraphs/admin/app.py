"""Wiring of the admin subgraph (`uvicorn subgraphs.admin.app:app`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kindred.app import Subgraph, create_app
from kindred.auth import TokenVerifier, trusted_verifier
from kindred.credentials import TokenIssuer, load_or_create_signing_key
from kindred.platform import Platform
from kindred.settings import Settings
from subgraphs.admin import service
from subgraphs.admin.handlers import HANDLERS
from subgraphs.admin.schema import AdminState, schema

log = logging.getLogger(__name__)


def staff_token_issuer(settings: Settings) -> TokenIssuer:
    """Signs staff tokens with the admin subgraph's own key (never the user subgraph's)."""
    return TokenIssuer(
        load_or_create_signing_key(
            settings.staff_jwt_private_key_path, create=settings.jwt_create_key
        ),
        issuer=settings.staff_jwt_issuer,
        ttl_seconds=settings.staff_access_token_ttl_seconds,
    )


def admin_state(settings: Settings) -> AdminState:
    return AdminState(
        issuer=staff_token_issuer(settings), limits=service.SignInLimits.from_settings(settings)
    )


def local_verifier(settings: Settings, state: AdminState) -> TokenVerifier:
    async def staff_keys() -> dict[str, Any]:
        return state.issuer.jwks()

    return trusted_verifier(settings, staff_keys=staff_keys)


async def jwks(request: Request) -> JSONResponse:
    state: AdminState = request.app.state.platform.state
    return JSONResponse(state.issuer.jwks(), headers={"Cache-Control": "public, max-age=300"})


async def seed(platform: Platform) -> None:
    """Creates the seeded admin (`KINDRED_STAFF_SEED_EMAIL` / `_PASSWORD`, set by `make dev`
    only) if it is missing; production bootstraps with `kindred staff create`."""
    settings = platform.settings
    if settings.staff_seed_email and settings.staff_seed_password:
        if await service.seed_admin(
            platform.db, email=settings.staff_seed_email, password=settings.staff_seed_password
        ):
            log.info("admin: created the seeded admin %s", settings.staff_seed_email)


SUBGRAPH = Subgraph(
    name="admin",
    schema=schema,
    migrations_dir=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
    routes=[Route("/.well-known/jwks.json", jwks)],
    state=admin_state,
    verifier=local_verifier,
    on_start=seed,
)


def build(settings: Settings | None = None) -> Any:
    return create_app(SUBGRAPH, settings)


app = build()
