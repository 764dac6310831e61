"""Wiring of the admin subgraph (`uvicorn subgraphs.admin.app:app`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kindred.app import Subgraph, create_app
from kindred.credentials import staff_token_issuer
from kindred.platform import Platform
from kindred.sessions import SignInLimits, SignInState, jwks_route, local_verifier
from kindred.settings import Settings
from subgraphs.admin import service
from subgraphs.admin.handlers import HANDLERS
from subgraphs.admin.schema import schema

log = logging.getLogger(__name__)


def admin_state(settings: Settings) -> SignInState:
    return SignInState(
        issuer=staff_token_issuer(settings),
        limits=SignInLimits.from_settings(settings, prefix="staff-"),
    )


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
    routes=[jwks_route()],
    state=admin_state,
    verifier=local_verifier(staff=True),
    on_start=seed,
)


def build(settings: Settings | None = None) -> Any:
    return create_app(SUBGRAPH, settings)


app = build()
