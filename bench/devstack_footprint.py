"""How heavy and how quick `make dev` is, for both layouts of the subgraphs.

For each layout (`KINDRED_DEV_PROCESSES=one`, the default: every subgraph in one Python
process; `separate`: a process each) it starts the stack as `make dev` does (`python -m
kindred.devstack`'s `main` in a child process, here on free ports and a fresh data
folder), times from the spawn until the banner says that every subgraph's `/health` and
the gateway's `/readiness` answer, waits --settle seconds, then counts the CPU time every
process spends over --cpu-window more idle seconds (consumers polling the broker, relays
and schedulers polling their databases), reads every process's PSS and RSS from
/proc/<pid>/smaps_rollup (the supervisor's process tree and PostgreSQL's, which pg_ctl
leaves on its own) and stops the stack with SIGINT, as Ctrl-C does. Each
layout starts twice on one data folder: cold (initdb, every migration) and warm (what a
developer waits for every day after the first). PSS shares each shared page among the
processes that map it, so the PSS total is what the stack costs the machine; RSS counts
shared pages once per process.

    python -m bench.devstack_footprint [--settle 10] [--cpu-window 10]
        [--layouts one,separate] [--keep]

The warm start's phases: until the first subgraph server starts (the infrastructure, and
the subgraphs' imports), until every subgraph answers, until the gateway does.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAME = "devstack_footprint"
LAYOUTS = ("one", "separate")
BANNER = "Kindred is up."
GOAL_PSS_MB = 1024.0
GOAL_READY_S = 15.0
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Usage:
    """One process's memory, in MB (10^6 bytes), and the CPU it spends idle (ms a second)."""

    pid: int
    part: str
    pss_mb: float
    rss_mb: float
    idle_cpu_ms_per_s: float


def run_child(layout: str, data_dir: str) -> int:
    """The stack `make dev` runs, on free ports (this is what the parent times)."""
    from kindred.devstack.__main__ import main
    from kindred.devstack.process import free_port
    from kindred.devstack.stack import Stack
    from kindred.devstack.supergraph import subgraph_ports

    def make() -> Stack:
        return Stack(
            Path(data_dir),
            postgres_port=free_port(),
            redis_port=free_port(),
            kafka_port=free_port(),
            subgraph_ports={
                name: free_port() for name in subgraph_ports(REPO_ROOT / "supergraph.yaml")
            },
            gateway_port=free_port(),
            trace_store_port=free_port(),
            repo_root=REPO_ROOT,
            processes=layout,
        )

    return main(make)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def process_tree(*roots: int) -> list[int]:
    """The pids of roots and of all their descendants."""
    tree = _children()
    found: list[int] = []
    pending = list(roots)
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(tree.get(pid, []))
    return found


def part_of(pid: int, supervisor: int) -> str:
    """What a process of the stack is, from its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    line = " ".join(arg.decode(errors="replace") for arg in argv if arg)
    served = re.search(r"subgraphs\.(\w+)\.app:app", line)
    if pid == supervisor:
        return "supervisor (python -m kindred.devstack)"
    if "kindred.devstack.traces" in line:
        return "trace store (python)"
    if "kindred.devstack.host" in line:
        return "subgraphs, one process"
    if served:
        return f"subgraph {served.group(1)}"
    for needle, part in (
        ("postgres", "postgresql (every process)"),
        ("redis-server", "redis"),
        ("tansu", "broker (tansu)"),
        ("edge/main.mjs", "gateway edge (node)"),
        ("kindred-guard", "gateway edge (guard, C)"),
        ("grafbase", "gateway engine (grafbase)"),
    ):
        if needle in line:
            return part
    return line[:60] or "?"


def memory(pid: int) -> tuple[float, float] | None:
    """(PSS, RSS) of a process in MB, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    values = dict(re.findall(r"^(Pss|Rss):\s+(\d+) kB", text, re.MULTILINE))
    if "Pss" not in values:
        return None
    return int(values["Pss"]) * 1024 / 1e6, int(values["Rss"]) * 1024 / 1e6


def measure(supervisor: int, data_dir: Path, cpu_window: float) -> list[Usage]:
    """Every process's idle CPU over `cpu_window` seconds (none if 0), then its memory."""
    from bench.support import process_cpu_seconds

    roots = [supervisor]
    postmaster = data_dir / "postgres" / "postmaster.pid"
    if postmaster.is_file():
        roots.append(int(postmaster.read_text().split()[0]))
    pids = sorted(set(process_tree(*roots)))
    before = {pid: process_cpu_seconds(pid) for pid in pids}
    time.sleep(cpu_window)
    usages = []
    for pid in pids:
        figures = memory(pid)
        start, end = before[pid], process_cpu_seconds(pid)
        if figures is None or start is None or end is None:
            continue
        cpu = 1000 * (end - start) / cpu_window if cpu_window else 0.0
        usages.append(Usage(pid, part_of(pid, supervisor), *figures, round(cpu, 1)))
    return usages


def start_and_measure(
    layout: str, data_dir: Path, settle: float, cpu_window: float = 0.0
) -> dict[str, Any]:
    """One start of the stack: seconds until ready, then every process's idle CPU and
    memory."""
    from bench.support import progress

    log_path = data_dir.parent / f"{data_dir.name}-{layout}.out"
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.devstack_footprint", "--child", layout, str(data_dir)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
        start_new_session=True,
    )
    ready = threading.Event()
    # When the subgraphs start (the infrastructure is up) and the gateway starts (every
    # subgraph answers /health): the first line of each.
    engine = f"[{os.environ.get('KINDRED_GATEWAY') or 'grafbase'}] ".encode()
    marks: dict[str, float] = {}

    def copy() -> None:
        assert child.stdout is not None
        with log_path.open("ab") as log:
            for line in child.stdout:
                log.write(line)
                if b"Started server process" in line:
                    marks.setdefault("subgraphs", time.monotonic() - started)
                elif line.startswith(engine):
                    marks.setdefault("gateway", time.monotonic() - started)
                elif line.strip() == BANNER.encode():
                    ready.set()

    threading.Thread(target=copy, daemon=True).start()
    try:
        while not ready.wait(0.05):
            if child.poll() is not None:
                raise RuntimeError(f"the stack did not start; see {log_path}")
            if time.monotonic() - started > 180:
                raise RuntimeError(f"the stack was not ready within 180 s; see {log_path}")
        ready_s = time.monotonic() - started
        progress(f"{layout}: ready in {ready_s:.1f} s; settling {settle:.0f} s")
        time.sleep(settle)
        usages = measure(child.pid, data_dir, cpu_window)
    finally:
        stopping = time.monotonic()
        child.send_signal(signal.SIGINT)  # Ctrl-C: the supervisor stops everything in order
        try:
            child.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        stop_s = time.monotonic() - stopping
    phases = {
        "infrastructure_s": marks.get("subgraphs"),
        "subgraphs_s": marks["gateway"] - marks["subgraphs"] if len(marks) == 2 else None,
        "gateway_s": ready_s - marks["gateway"] if "gateway" in marks else None,
    }
    return {
        "ready_s": ready_s,
        "stop_s": stop_s,
        **phases,
        "processes": [usage.__dict__ for usage in usages],
    }


def by_part(processes: list[dict[str, Any]]) -> dict[str, tuple[int, float, float, float]]:
    """Per part of the stack: (processes, PSS MB, RSS MB, idle CPU ms/s)."""
    parts: dict[str, tuple[int, float, float, float]] = {}
    for usage in processes:
        count, pss, rss, cpu = parts.get(usage["part"], (0, 0.0, 0.0, 0.0))
        parts[usage["part"]] = (
            count + 1,
            pss + usage["pss_mb"],
            rss + usage["rss_mb"],
            cpu + usage["idle_cpu_ms_per_s"],
        )
    return parts


def totals(processes: list[dict[str, Any]]) -> dict[str, float]:
    without_pg = [p for p in processes if not p["part"].startswith("postgresql")]
    return {
        "pss_mb": sum(p["pss_mb"] for p in processes),
        "rss_mb": sum(p["rss_mb"] for p in processes),
        "idle_cpu_ms_per_s": sum(p["idle_cpu_ms_per_s"] for p in processes),
        "pss_mb_without_postgres": sum(p["pss_mb"] for p in without_pg),
        "rss_mb_without_postgres": sum(p["rss_mb"] for p in without_pg),
        "idle_cpu_ms_per_s_without_postgres": sum(p["idle_cpu_ms_per_s"] for p in without_pg),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settle", type=float, default=10.0, help="seconds idle before reading")
    parser.add_argument(
        "--cpu-window", type=float, default=10.0, help="idle seconds over which CPU is counted"
    )
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="one,separate")
    parser.add_argument("--keep", action="store_true", help="keep the data folders and output")
    parser.add_argument("--child", nargs=2, metavar=("LAYOUT", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sys.exit(run_child(*args.child))

    from bench.support import print_table, progress, save_results

    layouts = [layout for layout in args.layouts.split(",") if layout]
    results: dict[str, dict[str, Any]] = {}
    scratch = Path(tempfile.mkdtemp(prefix="kindred-bench-footprint-"))
    try:
        for layout in layouts:
            data_dir = scratch / layout
            progress(f"{layout}: cold start (initdb, migrations; logs in {scratch})")
            cold = start_and_measure(layout, data_dir, settle=0.0)
            progress(f"{layout}: warm start")
            warm = start_and_measure(
                layout, data_dir, settle=args.settle, cpu_window=args.cpu_window
            )
            results[layout] = {
                "cold_ready_s": cold["ready_s"],
                **{key: value for key, value in warm.items() if key != "processes"},
                "processes": warm["processes"],
                **totals(warm["processes"]),
            }
    finally:
        if args.keep:
            progress(f"data and output kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    parts: list[str] = []
    for layout in layouts:
        parts += [part for part in by_part(results[layout]["processes"]) if part not in parts]
    headers = ["part"]
    for layout in layouts:
        headers += [f"{layout}: procs", f"{layout}: PSS MB", f"{layout}: RSS MB"]
        headers += [f"{layout}: CPU ms/s"]
    rows: list[list[Any]] = []
    for part in parts:
        row: list[Any] = [part]
        for layout in layouts:
            count, pss, rss, cpu = by_part(results[layout]["processes"]).get(
                part, (0, 0.0, 0.0, 0.0)
            )
            row += [count, round(pss, 1), round(rss, 1), round(cpu, 1)]
        rows.append(row)
    for label, suffix in (("total", ""), ("total without postgresql", "_without_postgres")):
        row = [label]
        for layout in layouts:
            figures = results[layout]
            row += [len(figures["processes"]), round(figures[f"pss_mb{suffix}"], 1)]
            row += [round(figures[f"rss_mb{suffix}"], 1)]
            row += [round(figures[f"idle_cpu_ms_per_s{suffix}"], 1)]
        rows.append(row)
    print_table(
        f"make dev's processes after {args.settle:.0f} s idle: memory (MB), and CPU over "
        f"{args.cpu_window:.0f} s more (ms a second)",
        headers,
        rows,
    )
    print_table(
        "make dev: seconds from start to every endpoint healthy",
        [
            "layout",
            "cold (first run)",
            "warm",
            "infra + imports",
            "subgraphs",
            "gateway",
            "Ctrl-C to stopped",
            "PSS MB",
            "goal",
        ],
        [
            [
                layout,
                round(results[layout]["cold_ready_s"], 1),
                round(results[layout]["ready_s"], 1),
                *(
                    round(results[layout][phase] or 0.0, 1)
                    for phase in ("infrastructure_s", "subgraphs_s", "gateway_s", "stop_s")
                ),
                round(results[layout]["pss_mb"], 1),
                "met"
                if results[layout]["ready_s"] <= GOAL_READY_S
                and results[layout]["pss_mb"] <= GOAL_PSS_MB
                else f"missed ({GOAL_READY_S:.0f} s, {GOAL_PSS_MB:.0f} MB)",
            ]
            for layout in layouts
        ],
    )
    save_results(
        NAME, {"settle_s": args.settle, "cpu_window_s": args.cpu_window, "layouts": results}
    )


if __name__ == "__main__":
    main()
