"""`kindred trace <trace-id>`: one request's waterfall from the trace store.

The store is the dev stack's (`kindred.devstack.traces`), at `KINDRED_TRACE_STORE_URL`
(default http://127.0.0.1:4318). `kindred trace --recent` lists the traces it holds.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from typing import Any

import httpx

from kindred.settings import trace_store_url

_TRACE_ID = re.compile(r"^(?:00-)?([0-9a-fA-F]{32})(?:-[0-9a-fA-F]{16}-[0-9a-fA-F]{2})?$")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "trace",
        help="show one request's spans as a waterfall (or --recent traces)",
        description="Show one trace from the trace store as a waterfall: one line per span, "
        "indented under its parent, with its service, start offset and duration.",
    )
    parser.add_argument(
        "trace_id", nargs="?", help="the trace id (32 hex digits, or a whole traceparent)"
    )
    parser.add_argument("--recent", action="store_true", help="list the most recent traces")
    parser.add_argument("--limit", type=int, default=20, help="how many --recent traces")
    parser.add_argument("--width", type=int, default=40, help="the bars' width in characters")
    parser.add_argument(
        "--store", default=None, help="the trace store's URL (default: KINDRED_TRACE_STORE_URL)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    store = (args.store or trace_store_url()).rstrip("/")
    if args.recent:
        answer = _get(f"{store}/api/traces", params={"limit": args.limit})
        if answer is None:
            return 1
        print(render_recent(answer.json()["traces"]))
        return 0
    if not args.trace_id:
        print("kindred trace: give a trace id, or --recent to find one", file=sys.stderr)
        return 2
    matched = _TRACE_ID.match(args.trace_id.strip())
    if not matched:
        print(
            f"kindred trace: {args.trace_id!r} is not a trace id (32 hex digits)", file=sys.stderr
        )
        return 2
    trace_id = matched.group(1).lower()
    answer = _get(f"{store}/api/traces/{trace_id}")
    if answer is None:
        return 1
    print(render_waterfall(answer.json()["spans"], width=args.width))
    return 0


def _get(url: str, params: dict[str, Any] | None = None) -> httpx.Response | None:
    """GET `url` from the store; None (having said why and what to do) if it fails."""
    try:
        answer = httpx.get(url, params=params, timeout=10.0)
    except httpx.HTTPError as error:
        print(
            f"kindred trace: cannot reach the trace store at {url} ({error}); is `make dev` "
            "running? Set KINDRED_TRACE_STORE_URL (or --store) to point elsewhere.",
            file=sys.stderr,
        )
        return None
    if answer.status_code == 404:
        print(
            "kindred trace: the store does not hold that trace (it keeps the most recent "
            "spans only, and a request's spans arrive within a second or so); "
            "`kindred trace --recent` lists what it has.",
            file=sys.stderr,
        )
        return None
    if answer.status_code != 200:
        print(f"kindred trace: the store answered {answer.status_code}: {answer.text[:200]}")
        return None
    return answer


def _ms(nanoseconds: float) -> str:
    milliseconds = nanoseconds / 1e6
    if milliseconds < 1:
        return f"{milliseconds:.2f} ms"
    return f"{milliseconds:.1f} ms" if milliseconds < 10_000 else f"{milliseconds / 1000:.2f} s"


def _bar(offset: int, duration: int, total: int, width: int) -> str:
    """`duration` from `offset` within `total`, drawn in `width` cells (at least one)."""
    begin = min(int(offset * width / total), width - 1)
    length = max(1, round(duration * width / total))
    length = min(length, width - begin)
    return " " * begin + "█" * length + " " * (width - begin - length)


def render_waterfall(spans: list[dict[str, Any]], *, width: int = 40) -> str:
    """One line per span, depth-first under its parent (children by start time): its
    offset from the trace's start, its duration, a bar, its service and name."""
    if not spans:
        return "(no spans)"
    ids = {span["spanId"] for span in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots: list[dict[str, Any]] = []
    for span in sorted(spans, key=lambda s: (s["start"], s["spanId"])):
        if span.get("parentSpanId") and span["parentSpanId"] in ids:
            children.setdefault(span["parentSpanId"], []).append(span)
        else:
            roots.append(span)
    start = min(span["start"] for span in spans)
    total = max(max(span["end"] for span in spans) - start, 1)
    services = sorted({span["service"] for span in spans})
    lines = [
        f"trace {spans[0]['traceId']}: {len(spans)} spans, {_ms(total)}, "
        f"{len(services)} service{'s' if len(services) > 1 else ''} ({', '.join(services)})",
        f"{'start':>10} {'duration':>10}  {'':{width}}  service / span",
    ]
    service_width = max(len(service) for service in services)

    def walk(span: dict[str, Any], depth: int) -> None:
        notes = []
        if span.get("kind") in {"producer", "consumer", "client"}:
            notes.append(span["kind"])
        if span.get("status") == "error":
            message = span.get("statusMessage")
            notes.append(f"ERROR: {message}" if message else "ERROR")
        if depth == 0 and span.get("parentSpanId"):
            notes.append(f"parent {span['parentSpanId']} not in the store")
        note = f"  ({'; '.join(notes)})" if notes else ""
        lines.append(
            f"{_ms(span['start'] - start):>10} {_ms(span['end'] - span['start']):>10}  "
            f"{_bar(span['start'] - start, span['end'] - span['start'], total, width)}  "
            f"{span['service']:<{service_width}}  {'  ' * depth}{span['name']}{note}"
        )
        for child in children.get(span["spanId"], []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return "\n".join(lines)


def render_recent(traces: list[dict[str, Any]]) -> str:
    """The store's recent traces, newest first: id, time, spans, length, root operation."""
    if not traces:
        return "The store holds no traces yet: send a request through the gateway."
    lines = [f"{'trace id':<32}  {'started':<12}  {'spans':>5}  {'duration':>10}  root"]
    for item in traces:
        started = datetime.fromtimestamp(item["start"] / 1e9).strftime("%H:%M:%S.%f")[:12]
        root = item.get("root") or {}
        lines.append(
            f"{item['traceId']:<32}  {started:<12}  {item['spanCount']:>5}  "
            f"{_ms(item['durationMs'] * 1e6):>10}  "
            f"{root.get('service', '?')}: {root.get('name', '?')}"
        )
    return "\n".join(lines)
