"""Throughput, latency and memory of each candidate gateway versus straight to the user
subgraph, side by side in one run on one stack.

With wrk (2 threads, 32 connections, 10 s each after a 3 s warm-up), the bearer token
rotating over many members so no single row is hot, deduplication of in-flight subgraph
requests off everywhere:

- through each gateway: `{ me { displayName queueEntry { age syncedVersion } } }`, which
  it plans across the user and queuing subgraphs;
- direct: `{ me { displayName } }` (the same user data) to the user subgraph alone,
  measured before the gateways and again after them (the ratio uses their mean).

Candidates (`--gateways`): `grafbase+edge` (what `make dev` runs), `grafbase`,
`hive+edge`, `hive`, `hive-rust` (Hive Gateway with the Rust query planner) and
`apollo-gateway` (Apollo Gateway on @apollo/server). A bare engine takes the public port
itself; `+edge` puts the edge (router/edge/) in front. Gateway RSS is the peak, sampled
every 0.25 s while wrk runs, of every process of the gateway (edge, engine, children).
A second table shows where each path's CPU goes: the user + system time each process
(gateway, every subgraph, PostgreSQL, the broker, Redis) spent per request.

Every member's answer is checked on every path before measuring; during the run the wrk
script counts answers that are not 200 or carry `errors`.

    python -m bench.gateway_vs_subgraph [--members 50] [--duration 10] [--warmup 3]
        [--gateways grafbase+edge,grafbase,hive+edge,hive,hive-rust,apollo-gateway]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.support import (
    gql,
    print_table,
    private_stack,
    progress,
    register_member,
    save_results,
)
from kindred.devstack.stack import Stack

NAME = "gateway_vs_subgraph"
LUA_SCRIPT = Path(__file__).resolve().parent / "graphql_post.lua"
THREADS, CONNECTIONS = 2, 32
GATEWAY_QUERY = "{ me { displayName queueEntry { age syncedVersion } } }"
DIRECT_QUERY = "{ me { displayName } }"


def check_answers(client: httpx.Client, url: str, query: str, tokens: list[str]) -> None:
    """Raises unless every member gets a complete answer without errors."""
    for token in tokens:
        me = gql(client, url, query, token=token)["me"]
        if "queueEntry" in me and me["queueEntry"] is None:
            raise RuntimeError(f"{url}: a member is missing from the queue: {me}")


def run_wrk(
    url: str, query: str, tokens_file: Path, work_dir: Path, seconds: int
) -> dict[str, Any]:
    """One wrk run; its figures as the Lua script's done() reports them."""
    body_file = work_dir / "body.json"
    body_file.write_text(json.dumps({"query": query}), encoding="utf-8")
    argv = [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]
    env = {**os.environ, "BENCH_BODY_FILE": str(body_file), "BENCH_TOKENS_FILE": str(tokens_file)}
    finished = subprocess.run(
        argv, env=env, capture_output=True, text=True, check=False, timeout=seconds + 60
    )
    lines = [line for line in finished.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if finished.returncode != 0 or not lines:
        output = finished.stdout + finished.stderr
        raise RuntimeError(f"wrk failed ({finished.returncode}):\n{output}")
    figures: dict[str, Any] = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    figures["req_per_s"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


CANDIDATES = ("grafbase+edge", "grafbase", "hive+edge", "hive", "hive-rust", "apollo-gateway")


def _tree(pid: int) -> list[int]:
    """pid and every descendant of it (from /proc)."""
    pids, index = [pid], 0
    while index < len(pids):
        for task in Path(f"/proc/{pids[index]}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pids += [int(child) for child in task.read_text().split()]
        index += 1
    return pids


def rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes and all their descendants, in MB."""
    total = 0
    for pid in {child for root in pids for child in _tree(root)}:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of these processes and their descendants, in seconds."""
    ticks = 0
    for pid in {child for root in pids for child in _tree(root)}:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def components(stack: Stack) -> dict[str, list[int]]:
    """The processes whose CPU a request costs: the gateway, each subgraph, the servers."""
    parts = {
        "gateway": [process.popen.pid for process in stack.gateway_processes()],
        **{name: [process.popen.pid] for name, process in stack.subgraphs.items()},
    }
    if stack.postgres is not None:  # pg_ctl has exited: the server's pid is in its data dir
        with contextlib.suppress(OSError, ValueError):
            postmaster = stack.postgres.data_dir / "postmaster.pid"
            parts["postgres"] = [int(postmaster.read_text().split()[0])]
    for name, server in (("broker", stack.broker), ("redis", stack.redis)):
        process = getattr(server, "_server", None)
        if process is not None:
            parts[name] = [process.popen.pid]
    return parts


@contextmanager
def cpu_per_request(stack: Stack) -> Iterator[dict[str, float]]:
    """CPU time each component spends while the block runs; the caller divides by requests."""
    parts = components(stack)
    before = {name: cpu_seconds(pids) for name, pids in parts.items()}
    spent: dict[str, float] = {}
    try:
        yield spent
    finally:
        for name, pids in parts.items():
            spent[name] = cpu_seconds(pids) - before[name]


@contextmanager
def peak_rss(pids: list[int]) -> Iterator[dict[str, float]]:
    """Samples the processes' RSS every 0.25 s while the block runs; yields {"peak_mb"}."""
    figures = {"peak_mb": rss_mb(pids)}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            figures["peak_mb"] = max(figures["peak_mb"], rss_mb(pids))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield figures
    finally:
        stop.set()
        sampler.join()


def measure(
    stack: Stack,
    url: str,
    query: str,
    tokens_file: Path,
    work_dir: Path,
    duration: int,
    warmup: int,
) -> dict[str, Any]:
    """A warm-up, then the measured wrk run, with the CPU each component spent per request."""
    run_wrk(url, query, tokens_file, work_dir, warmup)
    with cpu_per_request(stack) as spent:
        figures = run_wrk(url, query, tokens_file, work_dir, duration)
    figures["cpu_ms_per_request"] = {
        name: round(1000 * seconds / max(figures["requests"], 1), 3)
        for name, seconds in spent.items()
        if seconds > 0
    }
    return figures


def run(members: int, duration: int, warmup: int, gateways: list[str]) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `make system-packages` (apt-get install wrk)")
    with (
        private_stack(NAME, env={"KINDRED_GATEWAY_DEDUP": "0"}) as stack,
        httpx.Client(timeout=30.0) as client,
        tempfile.TemporaryDirectory(prefix="kindred-bench-wrk-") as scratch,
    ):
        work_dir = Path(scratch)
        user_url, gateway_url = stack.subgraph_urls["user"], stack.graphql_url
        progress(f"registering {members} members and putting them in the queue")
        tokens = []
        queuing_url = stack.subgraph_urls["queuing"]
        for _ in range(members):
            _, token, _ = register_member(client, user_url)
            gql(client, queuing_url, "mutation { joinQueue { syncedVersion } }", token=token)
            tokens.append(token)
        tokens_file = work_dir / "tokens.txt"
        tokens_file.write_text("\n".join(tokens) + "\n", encoding="utf-8")
        check_answers(client, user_url, DIRECT_QUERY, tokens)

        measured: dict[str, Any] = {}
        progress(f"direct: {warmup} s warm-up, then {duration} s measured")
        direct_before = measure(
            stack, user_url, DIRECT_QUERY, tokens_file, work_dir, duration, warmup
        )
        for candidate in gateways:
            engine, _, edge = candidate.partition("+")
            progress(f"{candidate}: starting")
            stack.start_gateway(engine, edge=bool(edge))
            try:
                check_answers(client, gateway_url, GATEWAY_QUERY, tokens)
                progress(f"{candidate}: {warmup} s warm-up, then {duration} s measured")
                pids = [process.popen.pid for process in stack.gateway_processes()]
                idle = rss_mb(pids)
                with peak_rss(pids) as memory:
                    figures = measure(
                        stack, gateway_url, GATEWAY_QUERY, tokens_file, work_dir, duration, warmup
                    )
                measured[candidate] = {
                    **figures,
                    "rss_idle_mb": idle,
                    "rss_peak_mb": memory["peak_mb"],
                }
            finally:
                stack.stop_gateway()
        progress(f"direct again: {warmup} s warm-up, then {duration} s measured")
        direct_after = measure(
            stack, user_url, DIRECT_QUERY, tokens_file, work_dir, duration, warmup
        )
        measured["direct (before)"] = direct_before
        measured["direct (after)"] = direct_after
    return {
        "members": members,
        "threads": THREADS,
        "connections": CONNECTIONS,
        "duration_s": duration,
        "warmup_s": warmup,
        "gateway_dedup": False,
        "queries": {"gateway": GATEWAY_QUERY, "direct": DIRECT_QUERY},
        "results": measured,
    }


def report(measured: dict[str, Any]) -> dict[str, Any]:
    results = measured["results"]
    direct = (results["direct (before)"]["req_per_s"] + results["direct (after)"]["req_per_s"]) / 2
    rows = []
    for name, r in results.items():
        ratio = r["req_per_s"] / direct if not name.startswith("direct") else None
        r["ratio_to_direct"] = round(ratio, 3) if ratio is not None else None
        rows.append(
            [
                name,
                r["req_per_s"],
                ratio if ratio is not None else "",
                r["p50_us"] / 1000,
                r["p99_us"] / 1000,
                r.get("rss_idle_mb", ""),
                r.get("rss_peak_mb", ""),
                r["non_2xx"] + r["socket_errors"] + r["bad_answers"],
            ]
        )
    print_table(
        f"Gateways (dedup off) vs user subgraph direct: wrk -t{THREADS} -c{CONNECTIONS} "
        f"-d{measured['duration_s']}s, {measured['members']} members",
        ["path", "req/s", "ratio", "p50 ms", "p99 ms", "RSS idle MB", "RSS peak MB", "bad"],
        rows,
    )
    names = sorted({part for r in results.values() for part in r["cpu_ms_per_request"]})
    print_table(
        "CPU ms per request, by process (user + system time during the measured run)",
        ["path", *names, "total"],
        [
            [
                path,
                *(r["cpu_ms_per_request"].get(part, "") for part in names),
                sum(r["cpu_ms_per_request"].values()),
            ]
            for path, r in results.items()
        ],
    )
    for name, query in measured["queries"].items():
        print(f"  {name}: {query}")
    print(f"ratio = req/s over the mean of the two direct runs ({direct:.0f} req/s)")
    measured["direct_req_per_s"] = round(direct, 1)
    return measured


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gateway_vs_subgraph",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--members", type=int, default=50, help="members rotated by wrk (50)")
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per path (10)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per path (3)")
    parser.add_argument(
        "--gateways",
        default=",".join(CANDIDATES),
        help=f"comma-separated candidates ({','.join(CANDIDATES)})",
    )
    args = parser.parse_args(argv)
    gateways = [name.strip() for name in args.gateways.split(",") if name.strip()]
    unknown = sorted(set(gateways) - set(CANDIDATES))
    if unknown:
        parser.error(f"unknown gateways {unknown}; choose from {', '.join(CANDIDATES)}")
    results = report(run(args.members, args.duration, args.warmup, gateways))
    save_results(NAME, results)
    return results


if __name__ == "__main__":
    main()
