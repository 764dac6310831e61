"""Throughput, latency and memory of each candidate gateway versus straight to the user
subgraph, side by side in one run on one stack.

With wrk (2 threads, 32 connections, 10 s each after a 3 s warm-up), the bearer token
rotating over many members so no single row is hot, deduplication of in-flight subgraph
requests off everywhere:

- through each gateway: `{ me { displayName queueEntry { age syncedVersion } } }`, which
  it plans across the user and queuing subgraphs;
- direct: `{ me { displayName } }` (the same user data) to the user subgraph alone,
  measured before the gateways and again after them (the ratio uses their mean).

Candidates (`--gateways`): `grafbase+guard`, `grafbase+edge`, `grafbase`, `hive+edge`,
`hive`, `hive-rust` (Hive Gateway with the Rust query planner) and `apollo-gateway`
(Apollo Gateway on @apollo/server). A bare engine takes the public port itself; `+guard`
puts the guard (router/guard/, in C) in front, `+edge` the Node edge (router/edge/).
Gateway RSS is the peak, sampled every 0.25 s while wrk runs, of every process of the
gateway (edge, engine, children).
A second table shows where each path's CPU goes: the user + system time each process
(gateway, every subgraph, PostgreSQL, the broker, Redis, and wrk itself) spent per
request, less what it spends idle (measured with no load for 4 s just before each
path's warm-up: consumers polling, schedulers), so each figure is what the requests
cost; "kernel, other" is the rest of the machine's busy time (what no process is charged
for), so a row's total is the whole machine's. From it, the last table models what
bounds each path (the machine's spare cores, or its busiest process on one core),
each gateway's ceiling (the ratio it would reach if the gateway cost no CPU at all) and
the ratio both paths would give on a machine of 4 cores.

Every member's answer is checked on every path before measuring; during the run the wrk
script counts answers that are not 200 or carry `errors`.

With `--rounds N` every path is measured N times, the rounds interleaved (direct, then
each gateway, N times over), and each path reports its median run (its req/s, latency
and CPU figures together) and the range of its runs: a stack's idle background (the
embedded broker answering polls) moves single runs by 10-20%.

    python -m bench.gateway_vs_subgraph [--members 50] [--duration 10] [--warmup 3] [--rounds 1]
        [--gateways grafbase+guard,grafbase+edge,grafbase,hive+edge,hive,hive-rust,apollo-gateway]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.support import (
    gql,
    print_table,
    private_stack,
    process_cpu_seconds,
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
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    finished = subprocess.run(
        argv, env=env, capture_output=True, text=True, check=False, timeout=seconds + 60
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in finished.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if finished.returncode != 0 or not lines:
        output = finished.stdout + finished.stderr
        raise RuntimeError(f"wrk failed ({finished.returncode}):\n{output}")
    figures: dict[str, Any] = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    figures["req_per_s"] = figures["requests"] / (figures["duration_us"] / 1e6)
    # The client's own CPU: the load it puts on the machine's two cores is part of each path.
    figures["client_cpu_s"] = (after.ru_utime + after.ru_stime) - (
        before.ru_utime + before.ru_stime
    )
    return figures


# A candidate's suffix: the edge in front of its engine (none: the engine alone).
EDGES = {"guard": "guard", "edge": "node"}
CANDIDATES = (
    "grafbase+guard",
    "grafbase+edge",
    "grafbase",
    "hive+edge",
    "hive",
    "hive-rust",
    "apollo-gateway",
)


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
    tree = {child for root in pids for child in _tree(root)}
    return sum(process_cpu_seconds(pid) or 0.0 for pid in tree)


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


MACHINE = "machine"


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy so far, every core (from /proc/stat): the
    kernel's own work for the loopback traffic included, which no process is charged."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_readings(parts: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of each component, and of the whole machine (`MACHINE`)."""
    return {
        **{name: cpu_seconds(pids) for name, pids in parts.items()},
        MACHINE: machine_busy_seconds(),
    }


def idle_cpu_per_second(stack: Stack, seconds: float = 4.0) -> dict[str, float]:
    """CPU seconds each component (and the machine) spends per second with no requests
    (polling consumers, schedulers, the broker answering them): subtracted from the
    loaded figures."""
    parts = components(stack)
    before = cpu_readings(parts)
    time.sleep(seconds)
    after = cpu_readings(parts)
    return {name: (after[name] - before[name]) / seconds for name in before}


@contextmanager
def cpu_per_request(stack: Stack, idle: dict[str, float]) -> Iterator[dict[str, float]]:
    """CPU time each component (and the machine) spends while the block runs beyond its
    idle rate; the caller divides by requests."""
    parts = components(stack)
    before = cpu_readings(parts)
    started = time.monotonic()
    spent: dict[str, float] = {}
    try:
        yield spent
    finally:
        elapsed = time.monotonic() - started
        after = cpu_readings(parts)
        for name in before:
            used = after[name] - before[name] - idle.get(name, 0.0) * elapsed
            spent[name] = max(used, 0.0)


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
    """The stack's idle CPU, a warm-up, then the measured wrk run, with the CPU each
    component spent per request beyond its idle rate."""
    idle = idle_cpu_per_second(stack)
    run_wrk(url, query, tokens_file, work_dir, warmup)
    with cpu_per_request(stack, idle) as spent:
        figures = run_wrk(url, query, tokens_file, work_dir, duration)
    spent["client"] = figures.pop("client_cpu_s")
    machine = spent.pop(MACHINE)
    spent["kernel, other"] = max(machine - sum(spent.values()), 0.0)
    figures["idle_cpu_ms_per_s"] = {name: round(1000 * rate, 1) for name, rate in idle.items()}
    figures["cpu_ms_per_request"] = {
        name: round(1000 * seconds / max(figures["requests"], 1), 3)
        for name, seconds in spent.items()
        if seconds > 0
    }
    return figures


def measure_gateway(
    stack: Stack,
    client: httpx.Client,
    candidate: str,
    label: str,
    tokens: list[str],
    tokens_file: Path,
    work_dir: Path,
    duration: int,
    warmup: int,
) -> dict[str, Any]:
    """One candidate started, checked, measured with its memory, and stopped."""
    engine, _, edge = candidate.partition("+")
    progress(f"{label}: starting")
    stack.start_gateway(engine, edge=EDGES.get(edge))
    try:
        check_answers(client, stack.graphql_url, GATEWAY_QUERY, tokens)
        progress(f"{label}: 4 s idle, {warmup} s warm-up, then {duration} s measured")
        pids = [process.popen.pid for process in stack.gateway_processes()]
        rss_idle = rss_mb(pids)
        with peak_rss(pids) as memory:
            figures = measure(
                stack, stack.graphql_url, GATEWAY_QUERY, tokens_file, work_dir, duration, warmup
            )
        return {**figures, "rss_idle_mb": rss_idle, "rss_peak_mb": memory["peak_mb"]}
    finally:
        stack.stop_gateway()


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median req/s (the lower of two middles), its CPU and latency
    figures with it; every run's req/s, and the highest memory of any."""
    ordered = sorted(runs, key=lambda figures: figures["req_per_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["req_per_s_runs"] = [round(figures["req_per_s"], 1) for figures in runs]
    for memory in ("rss_idle_mb", "rss_peak_mb"):
        if memory in chosen:
            chosen[memory] = max(figures[memory] for figures in runs)
    return chosen


def run(
    members: int, duration: int, warmup: int, gateways: list[str], rounds: int = 1
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `make system-packages` (apt-get install wrk)")
    with (
        private_stack(NAME, env={"KINDRED_GATEWAY_DEDUP": "0"}) as stack,
        httpx.Client(timeout=30.0) as client,
        tempfile.TemporaryDirectory(prefix="kindred-bench-wrk-") as scratch,
    ):
        work_dir = Path(scratch)
        user_url = stack.subgraph_urls["user"]
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

        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in gateways}
        runs["direct (before)"], runs["direct (after)"] = [], []
        for round_index in range(rounds):
            of = f" (round {round_index + 1} of {rounds})" if rounds > 1 else ""
            progress(f"direct{of}: 4 s idle, {warmup} s warm-up, then {duration} s measured")
            runs["direct (before)"].append(
                measure(stack, user_url, DIRECT_QUERY, tokens_file, work_dir, duration, warmup)
            )
            for candidate in gateways:
                runs[candidate].append(
                    measure_gateway(
                        stack,
                        client,
                        candidate,
                        f"{candidate}{of}",
                        tokens,
                        tokens_file,
                        work_dir,
                        duration,
                        warmup,
                    )
                )
        progress(f"direct again: 4 s idle, {warmup} s warm-up, then {duration} s measured")
        runs["direct (after)"].append(
            measure(stack, user_url, DIRECT_QUERY, tokens_file, work_dir, duration, warmup)
        )
        measured = {path: median_run(path_runs) for path, path_runs in runs.items()}
    return {
        "members": members,
        "threads": THREADS,
        "connections": CONNECTIONS,
        "duration_s": duration,
        "warmup_s": warmup,
        "rounds": rounds,
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
        spread = r.get("req_per_s_runs") or []
        rows.append(
            [
                name,
                r["req_per_s"],
                f"{min(spread):,.0f}-{max(spread):,.0f}" if len(spread) > 1 else "",
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
        f"-d{measured['duration_s']}s, {measured['members']} members, the median of "
        f"{measured['rounds']} round(s)",
        [
            "path",
            "req/s",
            "runs' range",
            "ratio",
            "p50 ms",
            "p99 ms",
            "RSS idle MB",
            "RSS peak MB",
            "bad",
        ],
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
    measured["cpu_model"] = cpu_model(results)
    return measured


# The machine the last column of the model imagines: as this one, with more cores.
MODELLED_CORES = 4


def cpu_model(results: dict[str, Any]) -> dict[str, Any]:
    """Each path's throughput as its CPU per request predicts it, and the gateways' ceiling.

    A path is held back by whichever runs out first: the machine (its cores less what the
    stack burns idle, over the path's CPU per request) or its busiest process (one core:
    a subgraph is one Python process), which is what bounds the direct path. The ceiling
    is the same with the gateway's own CPU taken out: what no faster gateway can beat on
    these subgraphs, as a ratio to the direct path's measured req/s. The last column models
    both paths on a machine of MODELLED_CORES cores (the same CPU per request): there the
    direct path stays bound by its one process, and a gateway path by its busiest."""
    cores = os.cpu_count() or 1
    not_processes = {"client", "kernel, other"}

    def spare(path: str, on: int = cores) -> float:
        return on - results[path]["idle_cpu_ms_per_s"][MACHINE] / 1000

    def busiest(cpu: dict[str, float], leave_out: frozenset[str] = frozenset()) -> str:
        return max((k for k in cpu if k not in not_processes | leave_out), key=cpu.__getitem__)

    def bound(path: str, leave_out: frozenset[str] = frozenset(), on: int = cores) -> float:
        cpu = results[path]["cpu_ms_per_request"]
        machine = 1000 * spare(path, on) / sum(v for k, v in cpu.items() if k not in leave_out)
        return min(machine, 1000 / cpu[busiest(cpu, leave_out)])

    direct_paths = ("direct (before)", "direct (after)")
    direct = sum(results[path]["req_per_s"] for path in direct_paths) / 2
    direct_on_more = sum(bound(path, on=MODELLED_CORES) for path in direct_paths) / 2
    model: dict[str, Any] = {}
    rows = []
    for path, r in results.items():
        cpu = r["cpu_ms_per_request"]
        modelled = bound(path)
        slowest = busiest(cpu)
        figures = {
            "spare_cores": round(spare(path), 2),
            "cpu_ms_per_request": round(sum(cpu.values()), 3),
            "busiest_process": slowest,
            "modelled_req_per_s": round(modelled, 1),
        }
        if path not in direct_paths:
            figures["modelled_ratio"] = round(modelled / direct, 3)
            figures["ceiling_ratio"] = round(bound(path, frozenset({"gateway"})) / direct, 3)
            on_more = bound(path, on=MODELLED_CORES) / direct_on_more
            figures[f"modelled_ratio_on_{MODELLED_CORES}_cores"] = round(on_more, 3)
        model[path] = figures
        rows.append(
            [
                path,
                figures["spare_cores"],
                figures["cpu_ms_per_request"],
                f"{slowest} {cpu[slowest]:.2f}",
                r["req_per_s"],
                modelled,
                figures.get("modelled_ratio", ""),
                figures.get("ceiling_ratio", ""),
                figures.get(f"modelled_ratio_on_{MODELLED_CORES}_cores", ""),
            ]
        )
    print_table(
        f"What bounds each path: the {cores} cores less what the stack burns idle, or its "
        "busiest process (one core)",
        [
            "path",
            "cores spare",
            "CPU ms/req",
            "busiest (ms/req)",
            "req/s measured",
            "req/s modelled",
            "ratio modelled",
            "ceiling (gateway at 0 CPU)",
            f"ratio modelled on {MODELLED_CORES} cores",
        ],
        rows,
    )
    return model


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
        "--rounds",
        type=int,
        default=1,
        help="measure every path this many times, interleaved, and keep each one's median (1)",
    )
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
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    results = report(run(args.members, args.duration, args.warmup, gateways, args.rounds))
    save_results(NAME, results)
    return results


if __name__ == "__main__":
    main()
