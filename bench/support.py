"""What the benchmarks share: a private stack, GraphQL calls, percentiles, tables, results."""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from kindred.devstack.process import free_port
from kindred.devstack.stack import Stack
from kindred.devstack.supergraph import subgraph_ports

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"

REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { accessToken user { id version } }
}"""


def progress(message: str) -> None:
    """One line of progress, timestamped, on stderr (the figures go to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def private_stack(
    name: str,
    *,
    subgraphs: bool = True,
    gateway: bool = False,
    before_subgraphs: Callable[[Stack], None] | None = None,
    env: dict[str, str] | None = None,
    processes: str = "separate",
) -> Iterator[Stack]:
    """A Stack on free ports with its data in a fresh temporary folder, stopped and
    removed on exit. before_subgraphs runs once the infrastructure is up; env is set
    in our environment (which the subgraphs and the gateway inherit) while it runs.
    Each subgraph runs in a process of its own unless processes says "one" (so the
    figures are those of production's layout, one subgraph per container)."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"kindred-bench-{name}-"))
    stack = Stack(
        data_dir,
        postgres_port=free_port(),
        redis_port=free_port(),
        kafka_port=free_port(),
        subgraph_ports={sub: free_port() for sub in subgraph_ports(REPO_ROOT / "supergraph.yaml")},
        gateway_port=free_port(),
        # Measured without exporting spans, as before the trace store existed.
        trace_store_port=None,
        repo_root=REPO_ROOT,
        echo=False,
        processes=processes,
    )
    overrides = dict(env or {})
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        progress(f"starting PostgreSQL, Redis and the broker (logs in {stack.log_dir})")
        stack.start_infra()
        if before_subgraphs is not None:
            before_subgraphs(stack)
        if subgraphs:
            progress("starting the subgraphs")
            stack.start_subgraphs()
        if gateway:
            progress("starting the gateway")
            stack.start_gateway()
        yield stack
    finally:
        progress("stopping the stack")
        stack.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(data_dir, ignore_errors=True)


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a process has spent so far, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def gql(
    client: httpx.Client,
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    """The `data` of a GraphQL answer; raises if the answer has errors."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    payload = {"query": query, "variables": variables or {}}
    response = client.post(url, json=payload, headers=headers)
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{url} answered {response.status_code}: {body}")
    data: dict[str, Any] = body["data"]
    return data


def register_member(client: httpx.Client, user_url: str) -> tuple[str, str, int]:
    """A new member (id, access token, profile version) registered at the user subgraph."""
    data = gql(
        client,
        user_url,
        REGISTER,
        {
            "input": {
                "email": f"bench-{uuid.uuid4().hex[:12]}@example.com",
                "password": "correct horse battery",
                "displayName": "Bench",
                "birthdate": "1994-03-02",
                "gender": "NON_BINARY",
            }
        },
    )
    payload = data["register"]
    return payload["user"]["id"], payload["accessToken"], payload["user"]["version"]


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean of durations given in milliseconds, rounded to 0.01 ms."""
    figures = {f"p{p}": percentile(values, p) for p in (50, 90, 99)}
    figures["max"] = max(values) if values else math.nan
    figures["mean"] = sum(values) / len(values) if values else math.nan
    return {key: round(value, 2) for key, value in figures.items()}


def print_latencies(
    title: str, samples: Sequence[dict[str, float]], labels: dict[str, str]
) -> dict[str, dict[str, float]]:
    """Prints p50/p90/p99/max/mean of each labelled duration (ms) in `samples`; returns them."""
    figures = {key: summary_ms([sample[key] for sample in samples]) for key in labels}
    print_table(
        title,
        ["measure", "p50", "p90", "p99", "max", "mean"],
        [
            [label, *(figures[key][f] for f in ("p50", "p90", "p99", "max", "mean"))]
            for key, label in labels.items()
        ],
    )
    return figures


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table on stdout: text left, numbers right."""
    cells = [[str(h) for h in headers], *[[_cell(value) for value in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        all(isinstance(row[i], int | float) for row in rows) and bool(rows)
        for i in range(len(headers))
    ]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if is_number else cell.ljust(width)
            for cell, width, is_number in zip(row, widths, numeric, strict=True)
        ).rstrip()

    print(f"\n{title}")
    print(line(cells[0]))
    print("  ".join("-" * width for width in widths))
    for row in cells[1:]:
        print(line(row))
    print(flush=True)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": commit or None,
    }


def save_results(name: str, results: dict[str, Any]) -> Path:
    """Writes results as bench/results/<name>-<UTC time>.json; returns the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    path = RESULTS_DIR / f"{name}-{now:%Y%m%dT%H%M%SZ}.json"
    document = {"benchmark": name, "measured_at": now.isoformat(), "machine": machine(), **results}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"results: {path.relative_to(REPO_ROOT)}")
    return path
