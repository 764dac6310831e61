"""Wiring of the user subgraph (`uvicorn subgraphs.user.app:app`)."""

from __future__ import annotations

from pathlib import Path

from kindred.app import Subgraph, create_app
from kindred.credentials import member_token_issuer
from kindred.sessions import SignInLimits, SignInState, jwks_route, local_verifier
from kindred.settings import Settings
from subgraphs.user.handlers import HANDLERS
from subgraphs.user.schema import schema


def user_state(settings: Settings) -> SignInState:
    return SignInState(
        issuer=member_token_issuer(settings), limits=SignInLimits.from_settings(settings)
    )


SUBGRAPH = Subgraph(
    name="user",
    schema=schema,
    migrations_dir=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
    routes=[jwks_route()],
    state=user_state,
    verifier=local_verifier(staff=False),
)


def build(settings: Settings | None = None):
    return create_app(SUBGRAPH, settings)


app = build()
