"""Child processes for the dev stack: prefixed logs, readiness waits, orderly stops."""

from __future__ import annotations

import collections
import ctypes
import itertools
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_COLORS = itertools.cycle(["36", "33", "35", "32", "34", "31", "96", "93", "95", "92"])
_PR_SET_PDEATHSIG = 1
_print_lock = threading.Lock()
try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None)  # loaded here: a forked child must not load it
except OSError:
    _libc = None


class StartupError(RuntimeError):
    """A part of the stack did not come up; the message says what to do next."""


# Below Linux's ephemeral range (32768+): a port handed out here cannot be taken by
# some process's outgoing connection between choosing it and a server binding it.
_FREE_PORT_RANGE = range(20_000, 32_000)
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now and no earlier call returned."""
    for _ in range(1000):
        port = random.choice(_FREE_PORT_RANGE)
        if port not in _handed_out and port_is_free(port):
            _handed_out.add(port)
            return port
    raise StartupError("no free TCP port between 20000 and 32000 on 127.0.0.1")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could bind host:port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def ensure_port_free(port: int, what: str, hint: str) -> None:
    """Raise StartupError naming the port, the part and the way out when the port is taken."""
    if not port_is_free(port):
        raise StartupError(f"port {port} is taken, so {what} cannot start there; {hint}")


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    # Linux only: the child gets SIGTERM if the supervisor dies without cleaning up.
    if _libc is not None and hasattr(_libc, "prctl"):
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ManagedProcess:
    """A child process whose merged stdout/stderr is tee'd, line by line, to a log file,
    to a ring buffer for error messages and (if echo) to our stdout as `[name] line`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        echo: bool = True,
        user: str | None = None,
        group: int | None = None,
        commands: bool = False,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.echo = echo
        self.recent: collections.deque[str] = collections.deque(maxlen=40)
        self._color = next(_COLORS)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("a", buffering=1, encoding="utf-8", errors="replace")
        self.popen = subprocess.Popen(
            self.argv,
            # A pipe when the process takes commands on stdin (see `command`).
            stdin=subprocess.PIPE if commands else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            # Own session: Ctrl-C reaches only the supervisor, which stops children in order.
            start_new_session=True,
            preexec_fn=_die_with_parent,
            user=user,
            group=group,
            extra_groups=[] if user is not None else None,
        )
        self._pump = threading.Thread(target=self._copy_output, name=f"log-{name}", daemon=True)
        self._pump.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _prefix(self, name: str | None = None, color: str | None = None) -> str:
        name, color = name or self.name, color or self._color
        if sys.stdout.isatty() and "NO_COLOR" not in os.environ:
            return f"\x1b[{color}m[{name}]\x1b[0m "
        return f"[{name}] "

    def _copy_output(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            self.recent.append(line)
            self._copy_line(line)
        self._close_logs()

    def _close_logs(self) -> None:
        self._log.close()

    def _copy_line(self, line: str) -> None:
        self._log.write(line + "\n")
        if self.echo:
            with _print_lock:
                print(self._prefix() + line, flush=True)

    def command(self, line: str) -> None:
        """Writes one line to the process's standard input (made with commands=True)."""
        assert self.popen.stdin is not None, "this process takes no commands"
        self.popen.stdin.write(line.encode() + b"\n")
        self.popen.stdin.flush()

    def running(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 20) -> str:
        """The last output lines, indented, for error messages."""
        kept = list(self.recent)[-lines:]
        return "\n".join(f"    {line}" for line in kept) or "    (no output)"

    def failure(self, problem: str) -> StartupError:
        """A StartupError that names the process, its log file and its last lines."""
        return StartupError(
            f"{self.name}: {problem}\n  log: {self.log_path}\n  last lines:\n{self.tail()}"
        )

    def wait_exit(self, timeout: float) -> int:
        """Wait for the process to end on its own; raise StartupError if it does not or fails."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise self.failure(f"did not finish within {timeout:.0f} s") from None
        self._pump.join(0.5)
        return code

    def stop(self, grace: float = 10.0, sig: int = signal.SIGTERM) -> None:
        """Signal the process group, wait up to grace seconds, then SIGKILL it."""
        stop_process_group(self.popen, grace=grace, sig=sig)
        self._pump.join(2.0)


# What kindred.devstack.host writes: `[name] line`, and `[host] stopped <name>` once a
# subgraph it served has shut down.
HOST_WRITER = "host"
STOPPED = "stopped "
_PREFIXED = re.compile(r"^\[(?P<name>[^\]\s]+)\] (?P<text>.*)$")


class HostProcess(ManagedProcess):
    """One process serving several subgraphs (`python -m kindred.devstack.host`), each on
    its own port. Its lines go to each subgraph's own log file and are echoed as
    `[subgraph] line`, as if each ran alone; the host's own lines go to log_path."""

    def __init__(
        self,
        name: str,
        ports: Mapping[str, int],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        echo: bool = True,
    ) -> None:
        self.ports = dict(ports)
        # The subgraphs it serves; one leaves the set once `stop_serving` has stopped it.
        self.serving = set(ports)
        self._stopped = {subgraph: threading.Event() for subgraph in ports}
        log_dir.mkdir(parents=True, exist_ok=True)
        self._logs = {
            subgraph: (log_dir / f"{subgraph}.log").open(
                "a", buffering=1, encoding="utf-8", errors="replace"
            )
            for subgraph in ports
        }
        self._colors = {subgraph: next(_COLORS) for subgraph in ports}
        argv = [
            sys.executable,
            "-m",
            "kindred.devstack.host",
            *(f"{subgraph}={port}" for subgraph, port in ports.items()),
        ]
        super().__init__(
            name,
            argv,
            log_path=log_dir / f"{name}.log",
            env=env,
            cwd=cwd,
            echo=echo,
            commands=True,
        )

    def _copy_line(self, line: str) -> None:
        match = _PREFIXED.match(line)
        writer, text = (match.group("name"), match.group("text")) if match else ("", line)
        if writer in self._logs:
            self._logs[writer].write(text + "\n")
            if self.echo:
                with _print_lock:
                    print(self._prefix(writer, self._colors[writer]) + text, flush=True)
            return
        if writer == HOST_WRITER and text.startswith(STOPPED):
            stopped = self._stopped.get(text.removeprefix(STOPPED).strip())
            if stopped is not None:
                stopped.set()
        super()._copy_line(text)

    def _close_logs(self) -> None:
        for log in self._logs.values():
            log.close()
        super()._close_logs()

    def stop_serving(self, subgraph: str, grace: float = 10.0) -> None:
        """Shut one subgraph down (as SIGTERM would a process of its own) and wait until
        it has; raise StartupError if it does not within grace seconds."""
        if subgraph not in self.serving:
            return
        if self.running():
            self.command(f"stop {subgraph}")
            deadline = time.monotonic() + grace
            while not self._stopped[subgraph].wait(0.05):
                if not self.running():
                    break
                if time.monotonic() > deadline:
                    raise self.failure(f"{subgraph} did not stop within {grace:.0f} s")
        self.serving.discard(subgraph)


def stop_process_group(popen: subprocess.Popen, *, grace: float, sig: int) -> None:
    """Send sig to the child's process group, then SIGKILL the group after grace seconds."""
    if popen.poll() is not None:
        return
    try:
        os.killpg(popen.pid, sig)
    except ProcessLookupError:
        return
    try:
        popen.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        popen.wait(5.0)


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    process: ManagedProcess | None = None,
    what: str,
    hint: str = "",
    interval: float = 0.05,
) -> None:
    """Poll check() until it is true; fail fast if process exits, or after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if process is not None and not process.running():
            code = process.popen.returncode
            raise process.failure(f"exited with code {code} before {what}. {hint}".rstrip())
        if time.monotonic() > deadline:
            problem = f"{what} did not happen within {timeout:.0f} s. {hint}".rstrip()
            if process is not None:
                raise process.failure(problem)
            raise StartupError(problem)
        time.sleep(interval)
