"""OpenTelemetry: one tracer provider per process; trace context across HTTP and Kafka."""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import StatusCode
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)
tracer = trace.get_tracer("kindred")
# Providers already given the exporter the environment names.
_EXPORTING: set[TracerProvider] = set()
# The service whose code runs, where one process serves several subgraphs (`make dev`):
# its spans carry that subgraph's service name rather than the process's.
_service: ContextVar[Resource | None] = ContextVar("kindred_service", default=None)
_SERVICES: dict[str, Resource] = {}


def service_name(subgraph: str) -> str:
    return f"kindred-{subgraph}"


def serve_as(subgraph: str) -> None:
    """Spans started from here on in this context (and the tasks and threads it starts)
    belong to `subgraph`: set by the process that serves several (`kindred.devstack.host`)."""
    name = service_name(subgraph)
    _service.set(_SERVICES.setdefault(name, Resource.create({"service.name": name})))


class _ServiceOfContext(SpanProcessor):
    """Gives a span the resource of the subgraph whose context started it (`serve_as`)."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        resource = _service.get()
        if resource is not None:
            span._resource = resource  # the SDK keeps no other way to set it per span


def otlp_traces_url(environ: Mapping[str, str] = os.environ) -> str | None:
    """Where spans go over OTLP/HTTP, if anywhere: `KINDRED_OTLP_ENDPOINT` (the dev stack's
    trace store) or the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the whole URL) or
    `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL; `/v1/traces` is added)."""
    if environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    base = environ.get("KINDRED_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return f"{base.rstrip('/')}/v1/traces" if base else None


def setup_tracing(service: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Installs the process's tracer provider, exporting where the environment says.

    An OTLP endpoint (`otlp_traces_url`) gets spans in batches over OTLP/HTTP with JSON
    encoding, from a background thread: a request never waits for the export, and spans
    are dropped when the receiver is down or the queue is full.
    `KINDRED_TRACE_CONSOLE=1` prints them.
    """
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        provider = current
    else:
        provider = TracerProvider(resource=Resource.create({"service.name": service_name(service)}))
        provider.add_span_processor(_ServiceOfContext())
        trace.set_tracer_provider(provider)
    url = otlp_traces_url()
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif provider in _EXPORTING:
        # Every app of a process that serves several subgraphs (`make dev`) asks again:
        # one exporter per process, or each span would be sent once per subgraph.
        pass
    elif url:
        _EXPORTING.add(provider)
        provider.add_span_processor(
            BatchSpanProcessor(
                OtlpJsonExporter(url),
                max_queue_size=4096,
                schedule_delay_millis=500,
                export_timeout_millis=3000,
            )
        )
    elif os.environ.get("KINDRED_TRACE_CONSOLE") == "1":
        _EXPORTING.add(provider)
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    return provider


# OTLP's SpanKind counts from UNSPECIFIED = 0; the SDK's from INTERNAL = 0.
_OTLP_STATUS = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}


def _otlp_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [_otlp_value(item) for item in value]}}
    return {"stringValue": str(value)}


def _otlp_attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": key, "value": _otlp_value(value)} for key, value in (attributes or {}).items()]


def _otlp_span(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    encoded: dict[str, Any] = {
        "traceId": f"{context.trace_id:032x}",
        "spanId": f"{context.span_id:016x}",
        "name": span.name,
        "kind": span.kind.value + 1,
        "startTimeUnixNano": str(span.start_time or 0),
        "endTimeUnixNano": str(span.end_time or span.start_time or 0),
        "attributes": _otlp_attributes(span.attributes),
        "status": {
            "code": _OTLP_STATUS[span.status.status_code],
            "message": span.status.description or "",
        },
    }
    if span.parent is not None:
        encoded["parentSpanId"] = f"{span.parent.span_id:016x}"
    if span.events:
        encoded["events"] = [
            {
                "timeUnixNano": str(event.timestamp),
                "name": event.name,
                "attributes": _otlp_attributes(event.attributes),
            }
            for event in span.events
        ]
    if span.links:
        encoded["links"] = [
            {
                "traceId": f"{link.context.trace_id:032x}",
                "spanId": f"{link.context.span_id:016x}",
                "attributes": _otlp_attributes(link.attributes),
            }
            for link in span.links
        ]
    return encoded


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """An OTLP `ExportTraceServiceRequest` in its JSON encoding, spans grouped by resource."""
    by_resource: dict[int, tuple[Resource | None, list[dict[str, Any]]]] = {}
    for span in spans:
        entry = by_resource.setdefault(id(span.resource), (span.resource, []))
        entry[1].append(_otlp_span(span))
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": _otlp_attributes(resource.attributes if resource else None)
                },
                "scopeSpans": [{"scope": {"name": "kindred"}, "spans": encoded}],
            }
            for resource, encoded in by_resource.values()
        ]
    }


class OtlpJsonExporter(SpanExporter):
    """OTLP/HTTP with JSON encoding, on the standard library: no protobuf, no gRPC.

    Runs on the batch processor's thread; a receiver that is down or slow costs a
    dropped batch (after `timeout` seconds), never a request.
    """

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.url = url
        self.timeout = timeout
        self._warned = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        body = json.dumps(otlp_json(spans), separators=(",", ":")).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as error:
            if not self._warned:  # once: a dev stack without its store would flood the log
                log.warning("traces: cannot export to %s (%r); dropping spans", self.url, error)
                self._warned = True
            return SpanExportResult.FAILURE
        self._warned = False
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


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


_NO_PARENT = otel_context.Context()

# Probes and scrapes, polled all day: no trace of their own.
UNTRACED_PATHS = frozenset({"/health", "/metrics"})


class TracingMiddleware:
    """A server span per HTTP request (but probes and scrapes), continuing the caller's trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._fields = frozenset(
            name.lower().encode("latin-1") for name in propagate.get_global_textmap().fields
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        # Only the propagator's own headers (traceparent, tracestate, baggage) are decoded.
        fields = self._fields
        carrier: Mapping[str, Any] = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope["headers"]
            if key in fields
        }
        # Without them the span starts a trace of its own, as extracting nothing would.
        parent = propagate.extract(carrier) if carrier else _NO_PARENT
        method, path = scope["method"], scope["path"]
        with tracer.start_as_current_span(
            f"{method} {path}",
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        ):
            await self.app(scope, receive, send)
