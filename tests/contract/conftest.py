"""Subgraphs served in-process against the session's real PostgreSQL, Redis and broker."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from kindred.app import Subgraph, create_app
from kindred.auth import trusted_verifier
from kindred.credentials import TokenIssuer, load_or_create_signing_key
from kindred.platform import Platform
from kindred.settings import Settings
from subgraphs.analytics.app import SUBGRAPH as ANALYTICS
from subgraphs.history.app import SUBGRAPH as HISTORY
from subgraphs.interaction.app import SUBGRAPH as INTERACTION
from subgraphs.moderation.app import SUBGRAPH as MODERATION
from subgraphs.queuing.app import SUBGRAPH as QUEUING
from subgraphs.subscription.app import SUBGRAPH as SUBSCRIPTION
from subgraphs.user.app import SUBGRAPH as USER
from tests.support import settings_for


@dataclasses.dataclass
class Served:
    client: httpx.AsyncClient
    platform: Platform


@asynccontextmanager
async def serve(subgraph: Subgraph, settings: Settings) -> AsyncIterator[Served]:
    """The subgraph's app, started (migrations, broker, relay) and reachable over ASGI."""
    app = create_app(subgraph, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://subgraph") as client:
            yield Served(client, app.state.platform)


@pytest.fixture(scope="session")
def contract_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract")


def _settings(name: str, infra: Any, data_dir: Path) -> Settings:
    return settings_for(
        name,
        postgres_url=infra.postgres_url,
        redis_url=infra.redis_url,
        kafka_bootstrap=infra.kafka_bootstrap,
        data_dir=data_dir,
    )


@pytest.fixture(scope="session")
def issuer(infra: Any, contract_data_dir: Path) -> TokenIssuer:
    """The user subgraph's token issuer, with the key the in-process user subgraph uses."""
    settings = _settings("user", infra, contract_data_dir)
    return TokenIssuer(
        load_or_create_signing_key(settings.jwt_private_key_path),
        issuer=settings.jwt_issuer,
        ttl_seconds=settings.access_token_ttl_seconds,
    )


def _staff_issuer(infra: Any, data_dir: Path) -> TokenIssuer:
    settings = _settings("admin", infra, data_dir)
    return TokenIssuer(
        load_or_create_signing_key(settings.staff_jwt_private_key_path),
        issuer=settings.staff_jwt_issuer,
        ttl_seconds=settings.access_token_ttl_seconds,
    )


@pytest.fixture(scope="session")
def staff_issuer(infra: Any, contract_data_dir: Path) -> TokenIssuer:
    """The admin subgraph's staff token issuer, with the key the in-process subgraphs trust."""
    return _staff_issuer(infra, contract_data_dir)


@pytest.fixture(scope="session")
async def user_served(infra: Any, contract_data_dir: Path) -> AsyncIterator[Served]:
    # No event consumer: it would join the group the end-to-end tests' user subgraph uses.
    subgraph = dataclasses.replace(USER, handlers={})
    async with serve(subgraph, _settings("user", infra, contract_data_dir)) as served:
        yield served


@pytest.fixture(scope="session")
def user_subgraph(user_served: Served) -> httpx.AsyncClient:
    return user_served.client


@pytest.fixture(scope="session")
def queuing_subgraph(queuing_served: Served) -> httpx.AsyncClient:
    return queuing_served.client


@asynccontextmanager
async def serve_trusting(
    subgraph: Subgraph, *, infra: Any, data_dir: Path, issuer: TokenIssuer, **settings: Any
) -> AsyncIterator[Served]:
    """`subgraph` in-process, trusting the test issuer's key without an HTTP hop for the
    JWKS. No event consumer (it would join the group the end-to-end tests' subgraph uses;
    tests call handlers through a unit of work) and no background tasks (a matcher or a
    push worker would act on the end-to-end tests' data; tests run them by hand).
    `settings` override the test settings (say, a Redis that is not there)."""

    staff = _staff_issuer(infra, data_dir)

    async def member_keys() -> dict[str, Any]:
        return issuer.jwks()

    async def staff_keys() -> dict[str, Any]:
        return staff.jwks()

    quiet = dataclasses.replace(
        subgraph,
        handlers={},
        tasks={},
        verifier=lambda settings, _: trusted_verifier(
            settings, member_keys=member_keys, staff_keys=staff_keys
        ),
    )
    changed = dataclasses.replace(_settings(subgraph.name, infra, data_dir), **settings)
    async with serve(quiet, changed) as served:
        yield served


@pytest.fixture(scope="session")
async def queuing_served(
    infra: Any, contract_data_dir: Path, issuer: TokenIssuer
) -> AsyncIterator[Served]:
    async with serve_trusting(
        QUEUING, infra=infra, data_dir=contract_data_dir, issuer=issuer
    ) as served:
        yield served


@pytest.fixture(scope="session")
async def interaction_served(
    infra: Any, contract_data_dir: Path, issuer: TokenIssuer
) -> AsyncIterator[Served]:
    async with serve_trusting(
        INTERACTION, infra=infra, data_dir=contract_data_dir, issuer=issuer
    ) as served:
        yield served


@pytest.fixture(scope="session")
async def history_served(
    infra: Any, contract_data_dir: Path, issuer: TokenIssuer
) -> AsyncIterator[Served]:
    async with serve_trusting(
        HISTORY, infra=infra, data_dir=contract_data_dir, issuer=issuer
    ) as served:
        yield served


@pytest.fixture(scope="session")
async def moderation_served(
    infra: Any, contract_data_dir: Path, issuer: TokenIssuer
) -> AsyncIterator[Served]:
    async with serve_trusting(
        MODERATION, infra=infra, data_dir=contract_data_dir, issuer=issuer
    ) as served:
        yield served


# The contract tests' webhook signing secret (not the dev default, to show it is the one used).
STRIPE_TEST_SECRET = "whsec_contract_tests"


@pytest.fixture(scope="session")
async def subscription_served(
    infra: Any, contract_data_dir: Path, issuer: TokenIssuer
) -> AsyncIterator[Served]:
    async with serve_trusting(
        SUBSCRIPTION,
        infra=infra,
        data_dir=contract_data_dir,
        issuer=issuer,
        stripe_webhook_secret=STRIPE_TEST_SECRET,
    ) as served:
        yield served


@pytest.fixture(scope="session")
async def analytics_served(
    infra: Any, contract_data_dir: Path, issuer: TokenIssuer
) -> AsyncIterator[Served]:
    async with serve_trusting(
        ANALYTICS, infra=infra, data_dir=contract_data_dir, issuer=issuer
    ) as served:
        yield served
