"""OpenTelemetry: one tracer provider per process; trace context across HTTP and Kafka."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)
tracer = trace.get_tracer("kindred")
# Providers already given the exporter the environment names.
_EXPORTING: set[TracerProvider] = set()


def setup_tracing(service: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Installs the process's tracer provider, exporting where the environment says.

    `OTEL_EXPORTER_OTLP_ENDPOINT` sends spans over OTLP/HTTP (when the exporter
    package is installed); `KINDRED_TRACE_CONSOLE=1` prints them.
    """
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        provider = current
    else:
        provider = TracerProvider(resource=Resource.create({"service.name": f"kindred-{service}"}))
        trace.set_tracer_provider(provider)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif provider in _EXPORTING:
        # Every app of a process that serves several subgraphs (`make dev`) asks again:
        # one exporter per process, or each span would be sent once per subgraph.
        pass
    elif os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        _EXPORTING.add(provider)
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )
        except ImportError:
            log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed")
        else:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif os.environ.get("KINDRED_TRACE_CONSOLE") == "1":
        _EXPORTING.add(provider)
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    return provider


def current_trace_headers() -> dict[str, str]:
    """The current trace context (`traceparent`, …) as header names and values."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_kafka_headers(headers: Iterable[tuple[str, bytes]] | None) -> otel_context.Context:
    carrier = {name: value.decode(errors="replace") for name, value in headers or ()}
    return propagate.extract(carrier)


def inject_http_headers(headers: dict[str, str]) -> dict[str, str]:
    propagate.inject(headers)
    return headers


class TracingMiddleware:
    """A server span per HTTP request, continuing the caller's trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier: Mapping[str, Any] = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        parent = propagate.extract(carrier)
        name = f"{scope['method']} {scope['path']}"
        with tracer.start_as_current_span(name, context=parent, kind=trace.SpanKind.SERVER) as span:
            span.set_attribute("http.request.method", scope["method"])
            span.set_attribute("url.path", scope["path"])
            await self.app(scope, receive, send)
