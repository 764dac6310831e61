"""The dev stack's trace store: an OTLP/HTTP receiver that keeps the spans of recent requests.

    python -m kindred.devstack.traces --port 4318 [--max-spans 50000]

Every subgraph (KINDRED_OTLP_ENDPOINT) and the gateway's edge send their spans here, as
OTLP/HTTP with JSON encoding (`POST /v1/traces`). The store keeps whole traces in memory,
dropping the least recently updated trace once it holds more than `max_spans` spans, and
serves them to `kindred trace`:

- `GET /api/traces?limit=N`: recent traces, newest first, with their root operation;
- `GET /api/traces/<trace id>`: one trace's spans;
- `GET /` and `GET /traces/<trace id>`: the same as small HTML pages (a waterfall);
- `GET /health`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import html
import json
import os
import re
import sys
import threading
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kindred.devstack.process import ManagedProcess, ensure_port_free, wait_until

DEFAULT_MAX_SPANS = 50_000
PORT_HINT = "set KINDRED_TRACE_STORE_PORT to another port or free this one"
MAX_BODY_BYTES = 16 * 1024 * 1024
# OTLP's SpanKind and status codes, as `kindred trace` shows them.
KINDS = {0: "", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUSES = {0: "unset", 1: "ok", 2: "error"}
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def _id(value: Any, length: int) -> str:
    """An OTLP JSON trace or span id as lowercase hex ('' when absent).

    The spec says hex; some exporters send protobuf's JSON mapping (base64) instead."""
    text = str(value or "")
    if not text:
        return ""
    if len(text) == length and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    try:
        return base64.b64decode(text, validate=True).hex()
    except (binascii.Error, ValueError):
        return text.lower()


def _value(value: Mapping[str, Any]) -> Any:
    """An OTLP AnyValue as a plain JSON value."""
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [_value(item) for item in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return _attributes(value["kvlistValue"].get("values", []))
    return None


def _attributes(items: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {str(item["key"]): _value(item.get("value") or {}) for item in items or ()}


def spans_of_request(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The spans of an OTLP `ExportTraceServiceRequest` (JSON), flattened: each with its
    service name, ids as hex, times in nanoseconds since the epoch and plain attributes."""
    spans: list[dict[str, Any]] = []
    for resource_spans in body.get("resourceSpans") or ():
        resource = _attributes((resource_spans.get("resource") or {}).get("attributes"))
        service = str(resource.get("service.name", "unknown"))
        for scope_spans in resource_spans.get("scopeSpans") or ():
            for span in scope_spans.get("spans") or ():
                start = int(span.get("startTimeUnixNano") or 0)
                status = span.get("status") or {}
                spans.append(
                    {
                        "traceId": _id(span.get("traceId"), 32),
                        "spanId": _id(span.get("spanId"), 16),
                        "parentSpanId": _id(span.get("parentSpanId"), 16),
                        "name": str(span.get("name", "")),
                        "service": service,
                        "kind": KINDS.get(int(span.get("kind") or 0), ""),
                        "start": start,
                        "end": max(int(span.get("endTimeUnixNano") or start), start),
                        "attributes": _attributes(span.get("attributes")),
                        "status": STATUSES.get(int(status.get("code") or 0), "unset"),
                        "statusMessage": str(status.get("message") or ""),
                        "links": [
                            {
                                "traceId": _id(link.get("traceId"), 32),
                                "spanId": _id(link.get("spanId"), 16),
                            }
                            for link in span.get("links") or ()
                        ],
                    }
                )
    return [span for span in spans if span["traceId"] and span["spanId"]]


def root_of(spans: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The trace's root: the earliest span whose parent is not in the trace."""
    ids = {span["spanId"] for span in spans}
    roots = [span for span in spans if span["parentSpanId"] not in ids]
    return min(roots or spans, key=lambda span: span["start"], default=None)


def summary(trace_id: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    """One line of `kindred trace --recent`: the trace's root operation, start, length."""
    root = root_of(spans)
    start = min(span["start"] for span in spans)
    end = max(span["end"] for span in spans)
    return {
        "traceId": trace_id,
        "root": {"service": root["service"], "name": root["name"]} if root else None,
        "start": start,
        "durationMs": (end - start) / 1e6,
        "spanCount": len(spans),
        "services": sorted({span["service"] for span in spans}),
        "errors": sum(span["status"] == "error" for span in spans),
    }


class TraceStore:
    """Whole traces in memory, at most `max_spans` spans; the least recently updated trace
    goes first. Thread-safe."""

    def __init__(self, max_spans: int = DEFAULT_MAX_SPANS) -> None:
        self.max_spans = max_spans
        self._traces: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()

    def add(self, spans: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            for span in spans:
                self._traces.setdefault(span["traceId"], []).append(span)
                self._traces.move_to_end(span["traceId"])
                self._count += 1
            while self._count > self.max_spans and len(self._traces) > 1:
                _, dropped = self._traces.popitem(last=False)
                self._count -= len(dropped)

    def get(self, trace_id: str) -> list[dict[str, Any]] | None:
        with self._lock:
            spans = self._traces.get(trace_id.lower())
            return sorted(spans, key=lambda span: span["start"]) if spans else None

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The most recently updated traces' summaries, newest first."""
        with self._lock:
            newest = list(self._traces.items())[-limit:] if limit > 0 else []
            return [summary(trace_id, list(spans)) for trace_id, spans in reversed(newest)]

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return len(self._traces), self._count


_PAGE = """<!doctype html><meta charset="utf-8"><title>{title}</title>
<style>body{{font:14px system-ui;margin:1.5em}}pre{{font:12px ui-monospace,monospace}}
td{{padding:.15em .8em}}a{{color:#06c}}</style><h1>{title}</h1>{body}"""


def _recent_page(store: TraceStore) -> str:
    rows = "".join(
        f"<tr><td><a href='/traces/{t['traceId']}'><code>{t['traceId']}</code></a></td>"
        f"<td>{html.escape(t['root']['service'] + ' ' + t['root']['name']) if t['root'] else ''}"
        f"</td><td>{t['spanCount']} spans</td><td>{t['durationMs']:.1f} ms</td></tr>"
        for t in store.recent(100)
    )
    body = f"<table>{rows}</table>" if rows else "<p>No traces yet: send a request.</p>"
    return _PAGE.format(title="Recent traces", body=body)


def _trace_page(trace_id: str, spans: list[dict[str, Any]]) -> str:
    from kindred.cli.trace import render_waterfall

    text = html.escape(render_waterfall(spans, width=60))
    body = f"<p><a href='/'>recent traces</a></p><pre>{text}</pre>"
    return _PAGE.format(title=f"Trace {trace_id}", body=body)


class _Handler(BaseHTTPRequestHandler):
    server: _StoreServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per export
        pass

    def _send(self, status: int, body: str | bytes, media: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("content-type", f"{media}; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value, separators=(",", ":")))

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if urlsplit(self.path).path != "/v1/traces":
            self.rfile.read(length)
            return self._json(404, {"error": "OTLP traces are received at POST /v1/traces"})
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return self._json(413, {"error": f"an export is at most {MAX_BODY_BYTES} bytes"})
        body = self.rfile.read(length)
        if "json" not in (self.headers.get("content-type") or ""):
            error = "send OTLP/HTTP with JSON encoding (content-type: application/json)"
            return self._json(415, {"error": error})
        try:
            spans = spans_of_request(json.loads(body))
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            return self._json(400, {"error": f"not an OTLP JSON export: {error!r}"})
        self.server.store.add(spans)
        self._json(200, {})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        store = self.server.store
        if url.path == "/health":
            trace_count, span_count = store.counts()
            return self._json(200, {"status": "ok", "traces": trace_count, "spans": span_count})
        if url.path == "/api/traces":
            limit = int((parse_qs(url.query).get("limit") or ["20"])[0])
            return self._json(200, {"traces": store.recent(min(max(limit, 0), 1000))})
        for prefix in ("/api/traces/", "/traces/"):
            if url.path.startswith(prefix):
                trace_id = url.path[len(prefix) :].lower()
                spans = store.get(trace_id) if _TRACE_ID.match(trace_id) else None
                if spans is None:
                    return self._json(404, {"error": f"no trace {trace_id} in the store"})
                if prefix == "/traces/":
                    return self._send(200, _trace_page(trace_id, spans), "text/html")
                return self._json(200, {"traceId": trace_id, "spans": spans})
        if url.path == "/":
            return self._send(200, _recent_page(store), "text/html")
        self._json(404, {"error": f"nothing at {url.path}"})


class _StoreServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: TraceStore) -> None:
        self.store = store
        super().__init__(address, _Handler)


def serve(host: str, port: int, store: TraceStore) -> _StoreServer:
    """A server for `store` bound to host:port (call serve_forever on it)."""
    return _StoreServer((host, port), store)


class EmbeddedTraceStore:
    """The store as a child process of the dev stack, on 127.0.0.1:port."""

    def __init__(
        self, port: int, *, log_dir: Path, max_spans: int = DEFAULT_MAX_SPANS, echo: bool = True
    ) -> None:
        self.port = port
        self.log_dir = log_dir
        self.max_spans = max_spans
        self.echo = echo
        self.url = f"http://127.0.0.1:{port}"
        self._server: ManagedProcess | None = None

    def start(self, timeout: float = 15.0) -> str:
        """Start the store and return its URL once it answers GET /health."""
        if self._server is not None and self._server.running():
            return self.url
        ensure_port_free(self.port, "the trace store", PORT_HINT)
        argv = [sys.executable, "-m", "kindred.devstack.traces", "--port", str(self.port)]
        argv += ["--max-spans", str(self.max_spans)]
        libs = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(filter(None, [libs, os.environ.get("PYTHONPATH")]))
        self._server = ManagedProcess(
            "traces",
            argv,
            log_path=self.log_dir / "traces.log",
            env={**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"},
            echo=self.echo,
        )
        wait_until(
            lambda: _answers(f"{self.url}/health"),
            timeout=timeout,
            process=self._server,
            what=f"the trace store answering GET /health on port {self.port}",
        )
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=5.0)
            self._server = None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Kindred's dev trace store (OTLP/HTTP, JSON).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--max-spans", type=int, default=DEFAULT_MAX_SPANS)
    args = parser.parse_args(argv)
    server = serve(args.host, args.port, TraceStore(args.max_spans))
    print(f"traces: OTLP/HTTP on http://{args.host}:{args.port}/v1/traces", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
