"""The subgraph app factory: GraphQL on /graphql, /health, lifespan of the platform."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnected as ClosedWebSocket
from strawberry.asgi import GraphQL
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.types.graphql import OperationType

from kindred import graphql_http, heap, ws_messages
from kindred.auth import TokenVerifier, bearer_token
from kindred.context import APPEAL_ONLY, RequestContext
from kindred.errors import ErrorCode, KindredError
from kindred.graphql import Schema, executed_operation
from kindred.graphql_http import RequestError
from kindred.kafka import Handler
from kindred.limits import MAX_BODY_BYTES
from kindred.metrics import NO_OPERATION, Metrics, serve_metrics
from kindred.platform import Platform
from kindred.realtime import Realtime
from kindred.settings import Settings, load_settings
from kindred.telemetry import TracingMiddleware, setup_tracing

_QUERIES = frozenset({OperationType.QUERY})
_QUERIES_AND_MUTATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION})


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


def _connection_refusal(context: RequestContext) -> str | None:
    """Why a WebSocket may not open (its close reason), or None: it needs a valid access
    token, and no subscription is for a banned member, so an appeal token is refused too."""
    if context.identity is None:
        return "Unauthorized"
    if context.identity.appeal_only:
        return APPEAL_ONLY
    return None


class _TransportWS(BaseGraphQLTransportWSHandler[RequestContext, None]):
    """graphql-transport-ws whose `connection_init` must carry a valid access token, and
    whose messages must be of the protocol's shape (else 4400, kindred.ws_messages)."""

    async def handle_message(self, message: Any) -> None:
        problem = ws_messages.problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_task_exception(self, error: Exception) -> None:
        # An operation that answers after the socket closed (the client left, or a message
        # of another shape closed it) has no one to tell: not a failure to log.
        if isinstance(error, ClosedWebSocket | WebSocketDisconnected):
            return
        await super().handle_task_exception(error)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        # A WebSocket carries no per-message headers: the token rides in connection_init.
        payload = message.get("payload") or {}
        if not isinstance(payload, dict):  # Strawberry refuses it (4400)
            await super().handle_connection_init(message)
            return
        authorization = payload.get("authorization") or payload.get("Authorization")
        if not authorization and self.context.request is not None:
            # Routers that propagate headers into the WebSocket handshake (the Apollo
            # Router does) send the token there instead.
            authorization = self.context.request.headers.get("authorization")
        if isinstance(authorization, str):
            await _authenticate(self.context, authorization)
        refusal = _connection_refusal(self.context)
        if refusal is not None:
            # 4401, not Strawberry's 4403: clients (and the gateway) do not retry it.
            await self.websocket.close(code=4401, reason=refusal)
            return
        await super().handle_connection_init(message)

    async def run_operation(self, operation: Any) -> None:
        metrics = cast(_GraphQLView, self.view).metrics
        metrics.subscription_started()
        try:
            await super().run_operation(operation)
        finally:
            metrics.subscription_ended()


class _GraphQLView(GraphQL[RequestContext, None]):
    """GraphQL over HTTP (the spec's, see kindred.graphql_http), and over WebSocket
    (graphql-transport-ws, Strawberry's handler) for subscriptions."""

    graphql_transport_ws_handler_class = _TransportWS

    def __init__(self, schema: Schema, *, metrics: Metrics, **options: Any) -> None:
        super().__init__(schema, **options)
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        started = time.perf_counter()
        try:
            response = await self._answer(request, started)
        except ClientDisconnect:  # gone before its body came: no one to answer
            return
        except RequestError as error:
            response = graphql_http.refusal(error, request.headers.get("accept"))
            self.metrics.error(error.code.value)
            self.metrics.request(NO_OPERATION, None, time.perf_counter() - started)
        await response(scope, receive, send)

    async def _answer(self, request: Request, started: float) -> Response:
        accept = request.headers.get("accept")
        if request.method == "GET":
            if graphql_http.wants_ide(request.query_params, accept):
                return await self.render_graphql_ide(request)  # a page, not a request
            data = graphql_http.parse_get(request.query_params)
            allowed = _QUERIES
        elif request.method == "POST":
            body = await request.body()
            data = graphql_http.parse_post(request.headers.get("content-type"), body)
            allowed = _QUERIES_AND_MUTATIONS
        else:
            raise graphql_http.refuse_method(request.method)
        media_type = graphql_http.negotiate(accept)
        context = await self.get_context(request, None)
        try:
            result = await self.schema.execute(
                data.query,
                variable_values=data.variables,
                context_value=context,
                operation_name=data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=data.extensions,
            )
        except InvalidOperationTypeError as error:
            raise graphql_http.refuse_operation_type(error.operation_type, request.method) from None
        except CannotGetOperationTypeError as error:
            payload = graphql_http.unknown_operation(error.operation_name)
            self._measure(payload, started)
            return graphql_http.respond(payload, media_type)
        payload = graphql_http.result_payload(result)
        self._measure(payload, started)
        return graphql_http.respond(payload, media_type, encode=self.encode_json)

    def _measure(self, payload: Mapping[str, Any], started: float) -> None:
        """Counts the answer by its operation, and each of its errors by code."""
        operation_type, operation_name = executed_operation() or (NO_OPERATION, None)
        self.metrics.request(operation_type, operation_name, time.perf_counter() - started)
        for error in payload.get("errors") or ():
            self.metrics.error((error.get("extensions") or {}).get("code"))

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(_graphiql_html(self.graphql_ide))

    async def get_context(self, request: Any, response: Any) -> RequestContext:
        platform: Platform = request.app.state.platform
        context = RequestContext(
            request=request,
            platform=platform,
            identity=None,
            realtime=request.app.state.realtime,
        )
        await _authenticate(context, request.headers.get("authorization"))
        return context


async def _authenticate(context: RequestContext, authorization: str | None) -> None:
    """Sets the context's identity from a bearer token, or the error that refused it."""
    context.authorization = authorization
    context.identity, context.auth_error = None, None
    try:
        token = bearer_token(authorization)
        if token is not None:
            context.identity = await context.platform.verifier.verify(token)
    except KindredError as error:
        context.auth_error = error


@functools.cache
def _graphiql_html(ide: Any) -> str:
    return get_graphql_ide_html(graphql_ide=ide)


class _BodyTooLarge(Exception):
    """Raised from `receive` when a body without Content-Length outgrows the limit."""


class _BodyLimit:
    """Refuses request bodies over the limit with a GraphQL-shaped 413: at once when the
    Content-Length says so, or as soon as a body without one (chunked) outgrows it."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics | None = None, max_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        accept = headers.get(b"accept")
        length = headers.get(b"content-length")
        if length is not None and length.isdigit():
            if int(length) > self.max_bytes:
                await self._refuse(accept, scope, receive, send)
                return
            # The server reads no more than the declared length.
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except _BodyTooLarge:
            if started:  # the app answered before reading it all: nothing more to say
                return
            await self._refuse(accept, scope, receive, send)

    async def _refuse(
        self, accept: bytes | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = graphql_http.body_too_large(accept.decode("latin-1") if accept else None)
        if self.metrics is not None:
            self.metrics.error(ErrorCode.PAYLOAD_TOO_LARGE.value)
            self.metrics.request(NO_OPERATION, None, 0.0)
        await response(scope, receive, send)


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
    metrics = Metrics(subgraph.name)

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
        metrics.watch(
            database=platform.db,
            cache=platform.cache,
            relay=platform.relay,
            consumer=platform.consumer,
        )
        # Connects to Redis only when first used (a subgraph without subscriptions never does).
        app.state.realtime = Realtime(settings.redis_url, namespace=settings.subgraph)
        await platform.start()
        if subgraph.on_start is not None:
            await subgraph.on_start(platform)
        for name, task in subgraph.tasks.items():
            platform.supervise(name, partial(task, platform))
        if settings.settle_heap_on_start:
            heap.settle()
        try:
            yield
        finally:
            await app.state.realtime.close()
            await platform.stop()

    graphql = _GraphQLView(
        subgraph.schema,
        metrics=metrics,
        graphql_ide="graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )
    app = Starlette(
        routes=[
            # Every method reaches the view, which refuses the others with a JSON 405.
            Route("/graphql", graphql),
            WebSocketRoute("/graphql", graphql),
            Route("/health", _health),
            Route("/metrics", serve_metrics, methods=["GET"]),
            *subgraph.routes,
        ],
        middleware=[Middleware(TracingMiddleware), Middleware(_BodyLimit, metrics=metrics)],
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    return app
