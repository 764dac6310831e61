"""`python -m kindred.devstack` (what `make dev` runs): the whole stack until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kindred.devstack.process import ManagedProcess, StartupError
from kindred.devstack.stack import (
    DEFAULT_GATEWAY_PORT,
    DEFAULT_TRACE_STORE_PORT,
    Stack,
    find_repo_root,
)


class _Shutdown(Exception):
    """Ctrl-C or SIGTERM arrived."""


def _request_shutdown(signum: int, frame: object) -> None:
    raise _Shutdown(signal.Signals(signum).name)


def stack_from_env() -> Stack:
    """A Stack on the default ports, configured by KINDRED_DATA_DIR, KINDRED_POSTGRES_URL,
    KINDRED_REDIS_URL, KINDRED_KAFKA_BOOTSTRAP (external servers), KINDRED_GATEWAY_PORT,
    KINDRED_TRACE_STORE_PORT (`0`: no trace store) and KINDRED_DEV_PROCESSES (`one` process
    for every subgraph, or `separate`)."""
    repo_root = find_repo_root()
    data_dir = Path(os.environ.get("KINDRED_DATA_DIR", ".data"))
    if not data_dir.is_absolute():
        data_dir = repo_root / data_dir
    return Stack(
        data_dir,
        postgres_url=os.environ.get("KINDRED_POSTGRES_URL") or None,
        redis_url=os.environ.get("KINDRED_REDIS_URL") or None,
        kafka_bootstrap=os.environ.get("KINDRED_KAFKA_BOOTSTRAP") or None,
        gateway_port=int(os.environ.get("KINDRED_GATEWAY_PORT") or DEFAULT_GATEWAY_PORT),
        trace_store_port=int(os.environ.get("KINDRED_TRACE_STORE_PORT") or DEFAULT_TRACE_STORE_PORT)
        or None,
        repo_root=repo_root,
    )


def banner(stack: Stack) -> str:
    """The URLs a developer needs, one per line."""
    width = max(len(name) for name in [*stack.subgraph_urls, "GraphiQL"])
    lines = [
        "",
        "Kindred is up.",
        f"  {'GraphiQL':<{width}}  {stack.graphql_url}"
        + (
            f"  (the {stack.gateway.name} edge, then {stack.engine.name})"
            if stack.engine is not None and stack.gateway is not None
            else ""
        ),
        *(f"  {name:<{width}}  {url}" for name, url in stack.subgraph_urls.items()),
        f"  {'postgres':<{width}}  {stack.postgres_url}",
        f"  {'redis':<{width}}  {stack.redis_url}",
        f"  {'kafka':<{width}}  {stack.kafka_bootstrap}",
        *(
            [f"  {'traces':<{width}}  {stack.trace_store_url}  (kindred trace --recent)"]
            if stack.trace_store_url
            else []
        ),
        f"  {'logs':<{width}}  {stack.log_dir}",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


def watch(stack: Stack) -> None:
    """Block until a signal arrives, reporting (once) any subgraph or gateway that dies."""
    reported: set[str] = set()
    while True:
        time.sleep(1.0)
        processes: dict[str, ManagedProcess] = dict(stack.subgraphs)
        if stack.host is not None:
            processes[f"the subgraphs' process ({', '.join(stack.host.ports)})"] = stack.host
        if stack.gateway is not None:
            processes["gateway"] = stack.gateway
        if stack.engine is not None:
            processes[f"gateway engine ({stack.engine.name})"] = stack.engine
        for name, process in processes.items():
            if name not in reported and not process.running():
                reported.add(name)
                print(
                    f"[devstack] {name} exited with code {process.popen.returncode}; "
                    f"see {process.log_path}",
                    file=sys.stderr,
                    flush=True,
                )


def main(make_stack: Callable[[], Stack] = stack_from_env) -> int:
    """Run the stack; return 0 after a clean stop on a signal, 1 if it could not start."""
    signal.signal(signal.SIGINT, _request_shutdown)
    signal.signal(signal.SIGTERM, _request_shutdown)
    code = 0
    stack: Stack | None = None
    try:
        stack = make_stack()
        stack.start()
        print(banner(stack), flush=True)
        watch(stack)
    except _Shutdown:
        pass
    except StartupError as exc:
        print(f"\n[devstack] could not start: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        # A second Ctrl-C must not cut the orderly stop short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stack is not None:
            print("[devstack] stopping…", flush=True)
            stack.stop()
            print("[devstack] stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
