"""Several subgraphs in one process (`make dev`'s default layout).

    python -m kindred.devstack.host user=3001 queuing=3002 …

Each subgraph keeps what it has in a process of its own: its app (`subgraphs.<name>.app`,
built with its own settings), its Platform (database pool, consumer, relay, tasks) and a
uvicorn server on its own port. What they share is the interpreter, the imported code and
one event loop, which is most of a subgraph process's memory. Production runs one
subgraph per container; this is for one machine.

Every line the process writes starts with `[name] `, the subgraph whose code wrote it (a
context variable follows each server's tasks), or `[host] `. Standard input takes
`stop <name>`: that subgraph shuts down as it would on SIGTERM, and `[host] stopped <name>`
says when it is done (the supervisor then may start it as a process of its own). SIGTERM
or SIGINT stops them all; the process exits once none serves, non-zero if one failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import io
import logging.config
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO, cast

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from kindred import protocols
from kindred.app import create_app
from kindred.devstack.process import HOST_WRITER, STOPPED
from kindred.settings import load_settings
from kindred.telemetry import serve_as

_writer: contextvars.ContextVar[str] = contextvars.ContextVar(
    "kindred_host_writer", default=HOST_WRITER
)


class PrefixedLines(io.TextIOBase):
    """A text stream that writes whole lines to `target`, each prefixed with `[name] `,
    name being the subgraph whose context writes (a partial line waits for its end)."""

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._pending: dict[str, str] = {}
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        name = _writer.get()
        with self._lock:
            lines = (self._pending.pop(name, "") + text).split("\n")
            if lines[-1]:
                self._pending[name] = lines[-1]
            if len(lines) > 1:
                self._target.write("".join(f"[{name}] {line}\n" for line in lines[:-1]))
                self._target.flush()
        return len(text)

    def flush(self) -> None:
        self._target.flush()


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to the host (which stops every server)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def hosted_app(name: str, port: int) -> Any:
    """The ASGI app of subgraph `name`, with the settings of one listening on `port`."""
    module = importlib.import_module(f"subgraphs.{name}.app")
    subgraph = getattr(module, "SUBGRAPH", None)
    if subgraph is None:  # an app without the usual wiring: serve it as it is
        return module.app
    return create_app(subgraph, load_settings(name, port=port))


def parse_ports(arguments: list[str]) -> dict[str, int]:
    """`name=port` arguments as a mapping, in their order."""
    ports: dict[str, int] = {}
    for argument in arguments:
        name, _, port = argument.partition("=")
        if not name or not port.isdigit():
            raise SystemExit(f"usage: kindred.devstack.host NAME=PORT …, not {argument!r}")
        ports[name] = int(port)
    return ports


def say(message: str) -> None:
    """One line from the host itself."""
    token = _writer.set(HOST_WRITER)
    try:
        print(message, flush=True)
    finally:
        _writer.reset(token)


async def serve(ports: dict[str, int]) -> int:
    """Serve every subgraph of `ports` until each has stopped; 1 if one failed."""
    servers: dict[str, _Server] = {}
    for name, port in ports.items():
        token = _writer.set(name)  # import-time output is the subgraph's too
        try:
            app = hosted_app(name, port)
        finally:
            _writer.reset(token)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            access_log=False,
            log_config=None,
            lifespan="on",
            http=protocols.HTTP,
            ws=protocols.WEBSOCKET,
        )
        servers[name] = _Server(config)
    failed: list[str] = []

    def stop_all() -> None:
        for server in servers.values():
            server.should_exit = True

    async def run(name: str, server: _Server) -> None:
        try:
            await server.serve()
        except (SystemExit, Exception) as error:  # uvicorn exits when startup fails
            failed.append(name)
            logging.getLogger("uvicorn.error").error("%s could not start: %r", name, error)
            stop_all()  # like a process that fails: the supervisor reports and stops
        say(f"{STOPPED}{name}")

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_all)

    def command(line: str) -> None:
        verb, _, name = line.strip().partition(" ")
        if verb == "stop" and name in servers:
            servers[name].should_exit = True
        elif line.strip():
            say(f"unknown command {line.strip()!r} (stop <subgraph>)")

    def read_commands() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(command, line)

    threading.Thread(target=read_commands, name="host-commands", daemon=True).start()
    tasks = []
    for name, server in servers.items():
        context = contextvars.copy_context()
        context.run(_writer.set, name)
        context.run(serve_as, name)  # its spans are the subgraph's, not the process's
        tasks.append(asyncio.create_task(run(name, server), name=name, context=context))
    await asyncio.gather(*tasks)
    return 1 if failed else 0


def main(arguments: list[str]) -> int:
    ports = parse_ports(arguments)
    sys.stdout = PrefixedLines(cast(TextIO, sys.__stdout__))
    sys.stderr = PrefixedLines(cast(TextIO, sys.__stderr__))
    logging.config.dictConfig(LOGGING_CONFIG)  # as uvicorn's command line sets it up
    runner = asyncio.Runner(loop_factory=uvicorn.Config(app="").get_loop_factory())
    with runner:
        return runner.run(serve(ports))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
