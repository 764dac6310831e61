"""The subgraph app factory: GraphQL on /graphql, /health, lifespan of the platform."""

from __future__ import annotations

import contextlib
from functools import partial
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL

from kindred.auth import TokenVerifier, bearer_token
from kindred.context import RequestContext
from kindred.errors import KindredError
from kindred.graphql import Schema
from kindred.kafka import Handler
from kindred.platform import Platform
from kindred.settings import Settings, load_settings
from kindred.telemetry import TracingMiddleware, setup_tracing

MAX_BODY_BYTES = 256 * 1024


@dataclass(frozen=True)
class Subgraph:
    """What makes one subgraph: its schema, migrations, event handlers and extra routes."""

    name: str
    schema: Schema
    migrations_dir: Path
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    routes: Sequence[BaseRoute] = ()
    state: Callable[[Settings], Any] | None = None
    verifier: Callable[[Settings, Any], TokenVerifier] | None = None
    on_start: Callable[[Platform], Awaitable[None]] | None = None
    # Long-running work (a scheduler, a saga runner), restarted by the platform if it crashes.
    tasks: Mapping[str, Callable[[Platform], Awaitable[None]]] = field(default_factory=dict)


class _GraphQLView(GraphQL[RequestContext, None]):
    async def get_context(self, request: Any, response: Any) -> RequestContext:
        platform: Platform = request.app.state.platform
        authorization = request.headers.get("authorization")
        context = RequestContext(
            request=request, platform=platform, identity=None, authorization=authorization
        )
        try:
            token = bearer_token(authorization)
            if token is not None:
                context.identity = await platform.verifier.verify(token)
        except KindredError as error:
            context.auth_error = error
        return context


class _BodyLimit:
    """Refuses request bodies over the limit with a GraphQL-shaped 413."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_bytes:
                response = JSONResponse(
                    {
                        "errors": [
                            {
                                "message": f"The request body is over {self.max_bytes} bytes.",
                                "extensions": {"code": "PAYLOAD_TOO_LARGE"},
                            }
                        ]
                    },
                    status_code=413,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _health(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    checks: dict[str, str] = {}
    for name, probe in (
        ("database", platform.db.ping),
        ("broker", platform.producer.ping),
        ("cache", platform.cache.ping),
    ):
        try:
            await probe()
            checks[name] = "ok"
        except Exception as error:
            checks[name] = f"error: {error!r}"[:300]
    essential_ok = checks["database"] == "ok" and checks["broker"] == "ok"
    status = (
        "ok"
        if all(v == "ok" for v in checks.values())
        else ("degraded" if essential_ok else "failing")
    )
    body: dict[str, object] = {
        "status": status,
        "subgraph": platform.settings.subgraph,
        "checks": checks,
    }
    if platform.consumer is not None:
        # Informational: joining a consumer group takes seconds; events wait meanwhile.
        body["consumer"] = "assigned" if platform.consumer.assigned.is_set() else "joining"
    return JSONResponse(body, status_code=200 if essential_ok else 503)


def create_app(subgraph: Subgraph, settings: Settings | None = None) -> Starlette:
    """A Starlette app serving `subgraph`; starting it starts its platform."""
    settings = settings or load_settings(subgraph.name)
    setup_tracing(subgraph.name)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = subgraph.state(settings) if subgraph.state else None
        platform = Platform(
            settings,
            migrations_dir=subgraph.migrations_dir,
            handlers=subgraph.handlers,
            verifier=subgraph.verifier(settings, state) if subgraph.verifier else None,
            state=state,
        )
        app.state.platform = platform
        await platform.start()
        if subgraph.on_start is not None:
            await subgraph.on_start(platform)
        for name, task in subgraph.tasks.items():
            platform.supervise(name, partial(task, platform))
        try:
            yield
        finally:
            await platform.stop()

    graphql = _GraphQLView(subgraph.schema, graphql_ide="graphiql")
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/health", _health),
            *subgraph.routes,
        ],
        middleware=[Middleware(TracingMiddleware), Middleware(_BodyLimit)],
        lifespan=lifespan,
    )
