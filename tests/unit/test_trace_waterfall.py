"""`kindred trace`'s waterfall and the trace store's reading of OTLP JSON, without I/O."""

from __future__ import annotations

from typing import Any

from kindred.cli.trace import render_recent, render_waterfall
from kindred.devstack.traces import TraceStore, spans_of_request, summary

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
MS = 1_000_000
T0 = 1_700_000_000_000 * MS


def span(span_id: str, parent: str, service: str, name: str, start: int, end: int, **extra: Any):
    return {
        "traceId": TRACE,
        "spanId": span_id * 16,
        "parentSpanId": parent * 16 if parent else "",
        "name": name,
        "service": service,
        "kind": extra.pop("kind", "server"),
        "start": T0 + start * MS,
        "end": T0 + end * MS,
        "attributes": {},
        "status": extra.pop("status", "unset"),
        "statusMessage": extra.pop("message", ""),
        "links": [],
    }


SPANS = [
    # Out of order on purpose: the waterfall sorts by parent, then start.
    span("c", "a", "kindred-user", "POST /graphql", 2, 10),
    span("a", "", "kindred-gateway", "query Mine", 0, 20),
    span("e", "d", "kindred-queuing", "consume user.profile.updated", 30, 40, kind="consumer"),
    span("b", "a", "kindred-gateway", "grafbase POST /graphql", 1, 19, kind="client"),
    span("d", "c", "kindred-user", "publish user.profile.updated", 12, 13, kind="producer"),
]


def test_the_waterfall_has_one_line_per_span_indented_under_its_parent() -> None:
    lines = render_waterfall(SPANS, width=20).splitlines()
    assert lines[0] == (
        f"trace {TRACE}: 5 spans, 40.0 ms, 3 services "
        "(kindred-gateway, kindred-queuing, kindred-user)"
    )
    body = lines[2:]
    # Columns: start, duration, the bar (20), the service (as wide as the widest), the span.
    services = [line[45:60] for line in body]
    names = [line[62:] for line in body]
    assert services == [
        "kindred-gateway",
        "kindred-gateway",
        "kindred-user   ",
        "kindred-user   ",
        "kindred-queuing",
    ]
    assert names == [
        "query Mine",
        "  grafbase POST /graphql  (client)",
        "  POST /graphql",
        "    publish user.profile.updated  (producer)",
        "      consume user.profile.updated  (consumer)",
    ]
    # Start offset and duration, then a bar placed on the trace's 40 ms (20 cells).
    root, _, _, _, consume = body
    assert root.startswith("   0.00 ms    20.0 ms  " + "█" * 10 + " " * 10)
    assert consume.startswith("   30.0 ms    10.0 ms  " + " " * 15 + "█" * 5)


def test_errors_and_missing_parents_are_said() -> None:
    spans = [
        span("a", "f", "kindred-gateway", "query Mine", 0, 2),
        span("b", "a", "kindred-user", "POST /graphql", 0, 1, status="error", message="boom"),
    ]
    text = render_waterfall(spans)
    assert f"query Mine  (parent {'f' * 16} not in the store)" in text
    assert "POST /graphql  (ERROR: boom)" in text
    assert render_waterfall([]) == "(no spans)"


def test_recent_traces_name_their_root_operation() -> None:
    text = render_recent([summary(TRACE, SPANS)])
    assert TRACE in text and "kindred-gateway: query Mine" in text and "40.0 ms" in text
    assert "no traces" in render_recent([])


def test_the_store_reads_otlp_json_and_keeps_the_newest_traces() -> None:
    export = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "kindred-a"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE.upper(),
                                # protobuf's JSON mapping (base64) is read too.
                                "spanId": "AAAAAAAAAAE=",
                                "parentSpanId": "",
                                "name": "POST /graphql",
                                "kind": 2,
                                "startTimeUnixNano": "1000",
                                "endTimeUnixNano": "3000",
                                "attributes": [
                                    {"key": "n", "value": {"intValue": "7"}},
                                    {"key": "ok", "value": {"boolValue": True}},
                                ],
                                "status": {"code": 2, "message": "boom"},
                            }
                        ]
                    }
                ],
            }
        ]
    }
    [read] = spans_of_request(export)
    assert read["traceId"] == TRACE and read["spanId"] == "0000000000000001"
    assert (read["service"], read["kind"], read["status"]) == ("kindred-a", "server", "error")
    assert read["attributes"] == {"n": 7, "ok": True}
    assert (read["start"], read["end"]) == (1000, 3000)

    store = TraceStore(max_spans=3)
    store.add([dict(read, traceId=f"{n:032x}", spanId=f"{n:016x}") for n in (1, 2)])
    store.add([dict(read, traceId=f"{1:032x}", spanId=f"{9:016x}")])  # trace 1 is newest now
    store.add([dict(read, traceId=f"{3:032x}", spanId=f"{3:016x}")])  # over 3: trace 2 goes
    assert store.get(f"{2:032x}") is None
    assert [t["traceId"] for t in store.recent()] == [f"{3:032x}", f"{1:032x}"]
    assert store.counts() == (2, 3)
