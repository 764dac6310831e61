"""graphql-http's GraphQL-over-HTTP audit against every subgraph over TCP, and the
WebSocket (graphql-transport-ws) on the same path still working.

Each subgraph declared in supergraph.yaml runs under uvicorn on a free loopback port (in a
thread of this process, against the session's servers; no event consumer, no background
tasks), and `node router/http_audit.mjs URL` audits it: no MUST may fail (error) and no
SHOULD may fail (warn). MAY items are reported as notices; we expect none either.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect

from kindred.app import Subgraph, create_app
from kindred.auth import trusted_verifier
from kindred.credentials import TokenIssuer, load_or_create_signing_key
from kindred.devstack.process import free_port
from kindred.devstack.supergraph import subgraph_ports
from tests.support import assert_http_audit_passes, settings_for

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBGRAPHS = list(subgraph_ports(REPO_ROOT / "supergraph.yaml"))


@dataclasses.dataclass
class Running:
    url: str  # http://127.0.0.1:<port>
    issuer: TokenIssuer


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("http-audit")


def _quiet(subgraph: Subgraph, issuer: TokenIssuer) -> Subgraph:
    """No consumer (it would join the end-to-end tests' group), no background tasks, and
    tokens of the test issuer trusted without an HTTP hop for the JWKS."""

    async def jwks() -> dict[str, Any]:
        return issuer.jwks()

    return dataclasses.replace(
        subgraph,
        handlers={},
        tasks={},
        verifier=lambda settings, _: trusted_verifier(settings, member_keys=jwks),
    )


@contextmanager
def serve_tcp(app: Any, within: float = 60.0) -> Iterator[str]:
    """`app` under uvicorn on a free 127.0.0.1 port, in a thread with its own event loop."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + within
    while not server.started:
        if not thread.is_alive():
            raise AssertionError(f"the app on port {port} did not start (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise AssertionError(f"the app on port {port} did not start within {within} s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module", params=SUBGRAPHS)
def running(request: pytest.FixtureRequest, infra: Any, data_dir: Path) -> Iterator[Running]:
    name = request.param
    settings = settings_for(
        name,
        postgres_url=infra.postgres_url,
        redis_url=infra.redis_url,
        kafka_bootstrap=infra.kafka_bootstrap,
        data_dir=data_dir,
    )
    issuer = TokenIssuer(
        load_or_create_signing_key(settings.jwt_private_key_path),
        issuer=settings.jwt_issuer,
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    subgraph = importlib.import_module(f"subgraphs.{name}.app").SUBGRAPH
    with serve_tcp(create_app(_quiet(subgraph, issuer), settings)) as url:
        yield Running(url, issuer)


def test_the_graphql_over_http_audit_passes(running: Running) -> None:
    report = assert_http_audit_passes(f"{running.url}/graphql")
    print(f"{running.url}: {report['counts']}")  # shown with -s


def test_the_websocket_on_the_same_path_still_speaks_graphql_transport_ws(
    running: Running,
) -> None:
    ws_url = running.url.replace("http://", "ws://") + "/graphql"
    token = running.issuer.access_token(uuid.uuid4())

    async def talk() -> tuple[dict[str, Any], int | None]:
        async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
            await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
            await asyncio.wait_for(socket.wait_closed(), 10)
            refused = socket.close_code
        async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            await socket.send(json.dumps(init))
            ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert ack["type"] == "connection_ack", ack
            await socket.send(json.dumps({"type": "ping"}))
            pong = json.loads(await asyncio.wait_for(socket.recv(), 10))
            return pong, refused

    pong, refused = asyncio.run(talk())
    assert pong["type"] == "pong"
    assert refused == 4401  # no token: refused as before
