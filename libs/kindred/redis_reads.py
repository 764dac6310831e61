"""The cache's hot read, `MGET`, on one pipelined connection of its own.

Every `me` and every `queueEntry` poll reads the cache once. Through redis-py's asyncio
client a read cost about 60 µs of CPU (a pooled connection checked out and in, a retry
wrapper, a timeout per socket read); here it is one write and one parse, about 25 µs,
most of it the system calls. Calls share the connection and are answered in the order
they were sent (Redis answers a connection's commands in order), so concurrent reads
need no pool: each waits for its own reply.

Only reads come here, in RESP2 (no `HELLO`), on `redis://` and `rediss://` URLs with
the username, password and database number they carry; writes and everything else
stay on redis-py. A read that fails raises an `OSError` (`ConnectionError`,
`TimeoutError`) or a redis-py `ResponseError`, which the cache treats as Redis being
down; the connection is dropped with it, and the next read opens a new one.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from redis.exceptions import ResponseError

Reply = bytes | int | list["Reply"] | ResponseError | None


class Incomplete(Exception):
    """The buffer ends before the reply does."""


def parse_reply(buffer: bytes | bytearray, start: int = 0) -> tuple[Reply, int]:
    """One RESP2 reply from `buffer` at `start`, and where the next one begins; an error
    reply (`-ERR ...`) is a ResponseError. Raises Incomplete if the buffer holds only part
    of the reply, ValueError for bytes that are not RESP2."""
    end_of_line = buffer.find(b"\r\n", start)
    if end_of_line < 0:
        raise Incomplete
    kind, line = buffer[start], bytes(buffer[start + 1 : end_of_line])
    after = end_of_line + 2
    if kind == 0x24:  # $: a bulk string, or $-1: null
        length = int(line)
        if length < 0:
            return None, after
        if len(buffer) < after + length + 2:
            raise Incomplete
        return bytes(buffer[after : after + length]), after + length + 2
    if kind == 0x2A:  # *: an array, or *-1: null
        count = int(line)
        if count < 0:
            return None, after
        items: list[Reply] = []
        for _ in range(count):
            item, after = parse_reply(buffer, after)
            items.append(item)
        return items, after
    if kind == 0x2B:  # +: a simple string
        return line, after
    if kind == 0x3A:  # :: an integer
        return int(line), after
    if kind == 0x2D:  # -: an error
        return ResponseError(line.decode("utf-8", "replace")), after
    raise ValueError(f"not a RESP2 reply: {bytes(buffer[start : start + 16])!r}")


def command(*words: bytes) -> bytes:
    """A command in RESP2: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(words)]
    for word in words:
        parts.append(b"$%d\r\n%s\r\n" % (len(word), word))
    return b"".join(parts)


@dataclass(frozen=True)
class Address:
    """Where Redis is and how to sign in, from a `redis://` or `rediss://` URL."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    database: int

    @classmethod
    def from_url(cls, url: str) -> Address | None:
        """None for a URL this reader does not speak (a Unix socket, say)."""
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            return None
        path = parts.path.strip("/")
        return cls(
            host=parts.hostname,
            port=parts.port or 6379,
            tls=parts.scheme == "rediss",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            database=int(path) if path.isdigit() else 0,
        )

    def handshake(self) -> list[bytes]:
        """The commands a new connection sends before any read."""
        commands = []
        if self.password is not None:
            credentials = [self.username.encode()] if self.username else []
            commands.append(command(b"AUTH", *credentials, self.password.encode()))
        if self.database:
            commands.append(command(b"SELECT", str(self.database).encode()))
        return commands


class _Connection(asyncio.Protocol):
    """One connection: commands written as they come, replies matched in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Reply]] = deque()
        self.buffer = bytearray()
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        start = 0
        try:
            while self.waiting:
                reply, start = parse_reply(self.buffer, start)
                self._answer(reply)
        except Incomplete:
            pass
        except ValueError as error:  # not Redis: nothing after this can be trusted
            self.close(ConnectionError(f"Redis sent what is not RESP2: {error}"))
            return
        del self.buffer[:start]

    def _answer(self, reply: Reply) -> None:
        future = self.waiting.popleft()
        if future.done():  # its caller gave up (timed out, cancelled)
            return
        if isinstance(reply, ResponseError):
            future.set_exception(reply)
        else:
            future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionError("Redis closed the connection")
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"Redis connection lost: {self.lost!r}"))

    def send(self, payload: bytes, replies: int) -> list[asyncio.Future[Reply]]:
        if self.lost is not None or self.transport is None or self.transport.is_closing():
            raise ConnectionError("the Redis connection is closed")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(replies)]
        self.waiting.extend(futures)
        self.transport.write(payload)
        return futures

    def close(self, why: Exception) -> None:
        if self.transport is not None:
            self.transport.abort()  # connection_lost fails what still waits
        self.lost = self.lost or why


class RedisReads:
    """`MGET` on one connection, opened when first needed and again after a failure."""

    def __init__(self, address: Address, *, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self._connection: _Connection | None = None
        self._connecting: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values of `keys`, in order (None where absent)."""
        if not keys:
            return []
        try:
            async with asyncio.timeout(self.timeout):
                connection = await self._connected()
                [future] = connection.send(command(b"MGET", *(k.encode() for k in keys)), 1)
                reply = await future
        except TimeoutError:
            self._drop(TimeoutError(f"Redis did not answer within {self.timeout} s"))
            raise
        except OSError as error:
            self._drop(error)
            raise
        if not isinstance(reply, list) or len(reply) != len(keys):
            self._drop(ConnectionError("Redis answered MGET with something else"))
            raise ConnectionError(f"Redis answered MGET with {reply!r:.100}")
        return [value if isinstance(value, bytes) else None for value in reply]

    async def _connected(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a connection and its lock belong to the loop they met
            self._connection, self._connecting, self._loop = None, asyncio.Lock(), loop
        connection = self._connection
        if connection is not None and connection.lost is None:
            return connection
        assert self._connecting is not None
        async with self._connecting:  # one connect for every read waiting on it
            if self._connection is None or self._connection.lost is not None:
                self._connection = await self._open()
            return self._connection

    async def _open(self) -> _Connection:
        address = self.address
        _, connection = await asyncio.get_running_loop().create_connection(
            _Connection,
            address.host,
            address.port,
            ssl=ssl.create_default_context() if address.tls else None,
        )
        handshake = address.handshake()
        if handshake:
            try:
                for future in connection.send(b"".join(handshake), len(handshake)):
                    await future
            except ResponseError:
                connection.close(ConnectionError("Redis refused the sign-in"))
                raise
        return connection

    def _drop(self, why: Exception) -> None:
        if self._connection is not None:
            self._connection.close(why)
            self._connection = None

    async def close(self) -> None:
        self._drop(ConnectionError("closed"))
