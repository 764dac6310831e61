"""Throughput and latency through Hive Gateway versus straight to the user subgraph.

Side by side, with wrk (2 threads, 32 connections, 10 s each after a 3 s warm-up), the
bearer token rotating over many members so no single row is hot:

- gateway (dedup off): `{ me { displayName queueEntry { age syncedVersion } } }`, which
  the gateway plans across the user and queuing subgraphs;
- direct: `{ me { displayName } }` (the same user data) to the user subgraph alone.

Every member's answer is checked on both paths before measuring; during the run the wrk
script counts answers that are not 200 or carry `errors`.

    python -m bench.gateway_vs_subgraph [--members 50] [--duration 10] [--warmup 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
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


def run(members: int, duration: int, warmup: int) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `make system-packages` (apt-get install wrk)")
    with (
        private_stack(NAME, gateway=True, env={"KINDRED_GATEWAY_DEDUP": "0"}) as stack,
        httpx.Client(timeout=30.0) as client,
        tempfile.TemporaryDirectory(prefix="kindred-bench-wrk-") as scratch,
    ):
        work_dir = Path(scratch)
        user_url, gateway_url = stack.subgraph_urls["user"], stack.graphql_url
        progress(f"registering {members} members and putting them in the queue")
        tokens = []
        for _ in range(members):
            _, token, _ = register_member(client, user_url)
            gql(client, gateway_url, "mutation { joinQueue { syncedVersion } }", token=token)
            tokens.append(token)
        tokens_file = work_dir / "tokens.txt"
        tokens_file.write_text("\n".join(tokens) + "\n", encoding="utf-8")

        targets = {
            "gateway": (gateway_url, GATEWAY_QUERY),
            "direct": (user_url, DIRECT_QUERY),
        }
        for url, query in targets.values():
            check_answers(client, url, query, tokens)
        progress("every member's answer is correct on both paths")

        measured: dict[str, Any] = {}
        for name, (url, query) in targets.items():
            progress(f"{name}: {warmup} s warm-up, then {duration} s measured")
            run_wrk(url, query, tokens_file, work_dir, warmup)
            measured[name] = run_wrk(url, query, tokens_file, work_dir, duration)
    return {
        "members": members,
        "threads": THREADS,
        "connections": CONNECTIONS,
        "duration_s": duration,
        "warmup_s": warmup,
        "gateway_dedup": False,
        "queries": {name: query for name, (_, query) in targets.items()},
        "results": measured,
    }


def report(measured: dict[str, Any]) -> dict[str, Any]:
    results = measured["results"]
    rows = [
        [
            name,
            r["req_per_s"],
            r["p50_us"] / 1000,
            r["p90_us"] / 1000,
            r["p99_us"] / 1000,
            r["requests"],
            r["non_2xx"],
            r["socket_errors"],
            r["bad_answers"],
        ]
        for name, r in results.items()
    ]
    print_table(
        f"Gateway (dedup off) vs user subgraph direct: wrk -t{THREADS} -c{CONNECTIONS} "
        f"-d{measured['duration_s']}s, {measured['members']} members",
        [
            "path",
            "req/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "requests",
            "non-2xx",
            "sock err",
            "bad answers",
        ],
        rows,
    )
    for name, query in measured["queries"].items():
        print(f"  {name}: {query}")
    ratio = results["gateway"]["req_per_s"] / results["direct"]["req_per_s"]
    measured["ratio_gateway_to_direct"] = round(ratio, 3)
    print(f"throughput ratio gateway/direct: {ratio:.2f}")
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
    args = parser.parse_args(argv)
    results = report(run(args.members, args.duration, args.warmup))
    save_results(NAME, results)
    return results


if __name__ == "__main__":
    main()
