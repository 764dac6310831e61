"""The guard's network layer (router/guard/net_*.c) through its test server, net_harness.c.

The harness is compiled here with AddressSanitizer and UndefinedBehaviorSanitizer and run
in front of real upstreams: a Starlette app under uvicorn (JSON, chunked JSON, an event
stream, a slow endpoint, a WebSocket echo) and a raw socket server that misbehaves on
purpose (it drops kept-alive connections, hangs up, answers late or never, breaks WebSocket
handshakes). Malformed HTTP goes over raw sockets, and `net_harness --fuzz` sends 20,000
requests and WebSocket frames mutated by an xorshift PRNG. After every test each harness
must still answer /echo, and at the end each must exit 0 on SIGTERM with nothing from the
sanitizers on stderr.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import select
import signal
import socket
import socketserver
import struct
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from kindred.devstack.process import free_port
from tests.support import uvicorn_in_thread

REPO_ROOT = Path(__file__).resolve().parents[3]
GUARD = REPO_ROOT / "router" / "guard"
PROTOCOL = "graphql-transport-ws"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEADER_BYTES = 16384
MAX_BODY_BYTES = 262144
MAX_WS_MESSAGE = 262144
SANITIZER_MARKS = (
    "AddressSanitizer",
    "LeakSanitizer",
    "UndefinedBehaviorSanitizer",
    "runtime error:",
)
UNREACHABLE = "The federation engine is unreachable"
POST = b"POST /echo HTTP/1.1\r\nHost: guard\r\n"
POST_CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"
FORWARD_TIMEOUT_MS = 300  # /forward-within/300/...: net_forward's timeout in these tests
LATE_ANSWER_S = 1.0  # how long the raw upstream's "late" mode holds its answer


# --- raw HTTP -------------------------------------------------------------------------------------


class Reader:
    """Buffered reads from a socket, keeping what is past the current message."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the connection closed")
        self.buf += chunk

    def until(self, separator: bytes) -> bytes:
        while separator not in self.buf:
            self._more()
        end = self.buf.index(separator) + len(separator)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self) -> bytes:
        with contextlib.suppress(EOFError, ConnectionResetError):
            while True:
                self._more()
        out, self.buf = self.buf, b""
        return out

    def closed(self, timeout: float = 5.0) -> bool:
        """Whether the peer closes without sending anything more (within `timeout`)."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


def read_chunked(reader: Reader) -> bytes:
    body = b""
    while True:
        size = int(reader.until(b"\r\n").split(b";")[0], 16)
        if size == 0:
            reader.until(b"\r\n")
            return body
        body += reader.exact(size)
        assert reader.exact(2) == b"\r\n"


def read_answer(reader: Reader, method: str = "GET") -> Answer:
    head = reader.until(b"\r\n\r\n").decode("latin-1")
    lines = head.split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if line]
    answer = Answer(status, headers, b"")  # type: ignore[arg-type]
    if method == "HEAD" or status < 200 or status in (204, 304):
        return answer
    if (answer.header("transfer-encoding") or "").lower() == "chunked":
        answer.body = read_chunked(reader)
    elif answer.header("content-length") is not None:
        answer.body = reader.exact(int(answer.header("content-length") or 0))
    else:
        answer.body = reader.rest()
    return answer


def request(
    path: str, *, method: str = "GET", headers: str = "", body: bytes = b"", version: str = "1.1"
) -> bytes:
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    return f"{method} {path} HTTP/{version}\r\nHost: guard\r\n{headers}{length}\r\n".encode() + body


def open_socket(port: int, timeout: float = 10.0) -> tuple[socket.socket, Reader]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock, Reader(sock)


def exchange(port: int, data: bytes, method: str = "GET") -> tuple[Answer, Reader]:
    """Sends `data` on a new connection and reads one answer."""
    sock, reader = open_socket(port)
    sock.sendall(data)
    return read_answer(reader, method), reader


def assert_refused(port: int, data: bytes, status: int, code: str) -> Answer:
    """net's own error answer: the status, the JSON error, and the connection closed."""
    answer, reader = exchange(port, data)
    assert answer.status == status, (answer, data[:200])
    assert answer.header("connection") == "close"
    assert answer.header("content-type") == "application/json; charset=utf-8"
    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == code
    assert error["message"]
    assert reader.closed()
    return answer


# --- raw WebSocket frames -------------------------------------------------------------------------


def ws_frame(
    opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True, rsv: int = 0
) -> bytes:
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", first, mask_bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_read_frame(reader: Reader) -> tuple[bool, int, bytes]:
    first, second = reader.exact(2)
    n = second & 0x7F
    if n == 126:
        n = struct.unpack("!H", reader.exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", reader.exact(8))[0]
    key = reader.exact(4) if second & 0x80 else b""
    payload = reader.exact(n)
    if key:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bool(first & 0x80), first & 0x0F, payload


def ws_close_of(reader: Reader) -> tuple[int, str]:
    """Reads frames up to the close frame: its code and reason."""
    while True:
        _, opcode, payload = ws_read_frame(reader)
        if opcode == 0x8:
            return struct.unpack("!H", payload[:2])[0], payload[2:].decode()


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether `condition` becomes true within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def ws_handshake(path: str = "/ws", *, headers: str = "", key: str | None = None) -> bytes:
    key = key or base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: guard\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{headers}\r\n"
    ).encode()


def ws_open_raw(port: int, headers: str = "") -> tuple[socket.socket, Reader]:
    sock, reader = open_socket(port)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(ws_handshake(headers=headers, key=key))
    answer = read_answer(reader, "HEAD")
    assert answer.status == 101
    assert answer.header("sec-websocket-accept") == accept_key(key)
    return sock, reader


# --- the upstreams --------------------------------------------------------------------------------


@dataclass
class UpstreamState:
    """What the Starlette upstream saw: WebSocket close codes, event streams cut short."""

    ws_close_codes: list[int] = field(default_factory=list)
    streams_cut: int = 0


def starlette_upstream(state: UpstreamState) -> Starlette:
    async def echo(request: Request) -> Response:
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "client": f"{request.client.host}:{request.client.port}" if request.client else "",
                "path": request.url.path,
                "query": request.url.query,
                "headers": [
                    [k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers.raw
                ],
                "bodyLength": len(body),
                "body": body.decode("utf-8", "replace"),
            }
        )

    async def chunked(request: Request) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            yield b'{"parts":['
            for i in range(5):
                yield (b"," if i else b"") + json.dumps({"i": i}).encode()
                await asyncio.sleep(0.01)
            yield b"]}"

        return StreamingResponse(parts(), media_type="application/json")

    async def counted(parts: Iterable[bytes], pause: float) -> AsyncIterator[bytes]:
        """Yields `parts`; a stream the client cuts short counts in state.streams_cut."""
        finished = False
        try:
            for part in parts:
                yield part
                await asyncio.sleep(pause)  # where a cancelled stream stops
            finished = True
        finally:
            if not finished:
                state.streams_cut += 1

    async def events(request: Request) -> Response:
        count = int(request.query_params.get("n", "3"))
        delay = float(request.query_params.get("delay", "0.2"))
        parts = (f"event: next\ndata: {i}\n\n".encode() for i in range(count))
        return StreamingResponse(counted(parts, delay), media_type="text/event-stream")

    async def flood(request: Request) -> Response:
        chunk = b"x" * 65536
        count = int(request.query_params.get("mb", "48")) * 16
        parts = (chunk for _ in range(count))
        return StreamingResponse(counted(parts, 0), media_type="application/octet-stream")

    async def slow(request: Request) -> Response:
        await asyncio.sleep(int(request.query_params.get("ms", "500")) / 1000)
        return JSONResponse({"slow": True})

    async def status(request: Request) -> Response:
        return JSONResponse({"status": True}, status_code=int(request.path_params["code"]))

    async def text(request: Request) -> Response:
        return PlainTextResponse("plain text, not JSON")

    async def big(request: Request) -> Response:
        return JSONResponse({"data": "y" * int(request.query_params.get("n", "1000000"))})

    async def ws_echo(websocket: WebSocket) -> None:
        if websocket.headers.get("x-mode") == "reject":
            await websocket.close(code=1008)
            return
        offered = websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol=PROTOCOL if PROTOCOL in offered else None)
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                state.ws_close_codes.append(message.get("code", 1005))
                return
            text = message.get("text")
            if text is not None and text.startswith("close:"):
                _, code, reason = text.split(":", 2)
                await websocket.close(code=int(code), reason=reason)
                return
            if text == "whoami":
                await websocket.send_text(
                    json.dumps({"subprotocol": PROTOCOL if PROTOCOL in offered else None})
                )
            elif text is not None:
                await websocket.send_text(text)
            else:
                await websocket.send_bytes(message["bytes"])

    return Starlette(
        routes=[
            Route("/echo", echo, methods=["GET", "POST", "PUT", "DELETE", "HEAD"]),
            Route("/chunked", chunked),
            Route("/sse", events),
            Route("/flood", flood),
            Route("/slow", slow),
            Route("/status/{code:int}", status),
            Route("/text", text),
            Route("/big", big),
            WebSocketRoute("/ws", ws_echo),
        ]
    )


class RawUpstream(socketserver.ThreadingTCPServer):
    """An upstream that answers one request per connection and drops the connection when a
    second one comes on it (a server whose idle timeout fired just as a request was sent);
    `X-Mode` makes it hang up, answer late or never, or break the WebSocket handshake.
    `abandoned` counts the connections the harness closed while an answer was awaited."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), RawHandler)
        self.lock = threading.Lock()
        self.connections = 0
        self.dropped = 0
        self.abandoned = 0
        self.ws_close_codes: list[int] = []


class RawHandler(socketserver.BaseRequestHandler):
    server: RawUpstream

    def handle(self) -> None:
        with self.server.lock:
            self.server.connections += 1
            number = self.server.connections
        reader = Reader(self.request)
        served = 0
        while True:
            try:
                head = reader.until(b"\r\n\r\n").decode("latin-1")
            except (EOFError, OSError):
                return
            headers = {}
            for line in head.split("\r\n")[1:]:
                if line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            if headers.get("upgrade", "").lower() == "websocket":
                self.websocket(reader, headers)
                return
            reader.exact(int(headers.get("content-length", "0")))
            if served or headers.get("x-mode") == "hangup":
                with self.server.lock:
                    self.server.dropped += 1
                return
            mode = headers.get("x-mode", "")
            body = json.dumps({"connection": number, "mode": mode}).encode()
            answer = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            if mode == "silent":  # accepts the request, never answers
                self.abandoned_within(reader, 10)
                return
            if mode == "slow-body":  # the head at once, the body only if still wanted in 5 s
                answer_head, _, answer_body = answer.partition(b"\r\n\r\n")
                self.request.sendall(answer_head + b"\r\n\r\n")
                if self.abandoned_within(reader, 5):
                    return
                self.request.sendall(answer_body)
                served += 1
                continue
            if mode == "late":  # the whole answer, long after the harness gave up on it
                time.sleep(LATE_ANSWER_S)
                with contextlib.suppress(OSError):
                    self.request.sendall(answer)
                served += 1
                continue
            if mode == "early-hints":
                self.request.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
            elif mode == "until-close":
                self.request.sendall(
                    b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body
                )
                return
            elif mode == "chunked-trailers":
                self.request.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                    b"4;ext=1\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n"
                    % (body[:4], len(body) - 4, body[4:])
                )
                served += 1
                continue
            self.request.sendall(answer)
            served += 1

    def abandoned_within(self, reader: Reader, timeout: float) -> bool:
        """Whether the harness closes the connection within `timeout` (counted if so)."""
        if not reader.closed(timeout):
            return False
        with self.server.lock:
            self.server.abandoned += 1
        return True

    def websocket(self, reader: Reader, headers: dict[str, str]) -> None:
        mode = headers.get("x-mode", "")
        accept = "x" * 28 if mode == "bad-accept" else accept_key(headers["sec-websocket-key"])
        protocol = headers.get("sec-websocket-protocol")
        self.request.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n"
                + (f"Sec-WebSocket-Protocol: {protocol}\r\n" if protocol else "")
                + "\r\n"
            ).encode()
        )
        if mode == "drop":
            return
        if mode == "empty-close":
            self.request.sendall(b"\x88\x00")
        elif mode == "masked":
            self.request.sendall(ws_frame(0x1, b"servers must not mask"))
        with contextlib.suppress(EOFError, OSError):
            while True:
                _, opcode, payload = ws_read_frame(reader)
                if opcode == 0x8:
                    with self.server.lock:
                        self.server.ws_close_codes.append(
                            struct.unpack("!H", payload[:2])[0] if payload else 1005
                        )
                    return


# --- the harness ----------------------------------------------------------------------------------


@dataclass
class Harness:
    port: int
    process: subprocess.Popen[bytes]
    stderr_path: Path

    def get(self, path: str) -> Answer:
        answer, _ = exchange(self.port, request(path))
        return answer

    def stop(self) -> tuple[int | None, str]:
        self.process.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = None
        return code, self.stderr_path.read_text(errors="replace")


STARTED: list[Harness] = []


@pytest.fixture(scope="session")
def harness_binary() -> Path:
    """net_harness.c built with the sanitizers (router/guard/Makefile); a compiler error
    fails the tests."""
    built = subprocess.run(
        ["make", "--no-print-directory", "-C", str(GUARD), "build/net_harness"],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        pytest.fail(f"building the harness failed:\n{built.stdout}{built.stderr}")
    return GUARD / "build" / "net_harness"


def start_harness(binary: Path, upstream_port: int, workdir: Path) -> Harness:
    port = free_port()
    stderr_path = workdir / f"harness-{port}.stderr"
    env = {
        **os.environ,
        "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
    }
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [str(binary), str(port), str(upstream_port)], stderr=stderr, env=env
        )
    harness = Harness(port, process, stderr_path)
    deadline = time.monotonic() + 15
    while True:
        try:
            if harness.get("/echo").status == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the harness did not start:\n{stderr_path.read_text(errors='replace')}")
        time.sleep(0.05)
    STARTED.append(harness)
    return harness


def stop_harness(harness: Harness) -> None:
    STARTED.remove(harness)
    code, stderr = harness.stop()
    assert not any(mark in stderr for mark in SANITIZER_MARKS), stderr
    assert code == 0, stderr
    assert all(line.startswith("[guard] ") for line in stderr.splitlines() if line), stderr


@pytest.fixture(scope="session")
def upstream_state() -> UpstreamState:
    return UpstreamState()


@pytest.fixture(scope="session")
def upstream(upstream_state: UpstreamState) -> Iterator[int]:
    """The Starlette upstream under uvicorn (in a thread). It closes connections idle for a
    second, pings WebSockets every 0.3 s and closes those that do not answer in 0.5 s."""
    port = free_port()
    config = uvicorn.Config(
        starlette_upstream(upstream_state),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws="websockets-sansio",
        ws_ping_interval=0.3,
        ws_ping_timeout=0.5,
        timeout_keep_alive=1,
    )
    with uvicorn_in_thread(config):
        yield port


@pytest.fixture(scope="session")
def harness(
    harness_binary: Path, upstream: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    started = start_harness(harness_binary, upstream, tmp_path_factory.mktemp("logs"))
    yield started

    # Every WebSocket's ws_closed ran exactly once (twice would be a double free for ASan).
    def stats() -> dict[str, int]:
        counts: dict[str, int] = started.get("/stats").json()
        return counts

    assert eventually(lambda: stats()["wsOpened"] == stats()["wsClosed"]), stats()
    stop_harness(started)


@pytest.fixture(scope="session")
def raw_upstream() -> Iterator[RawUpstream]:
    server = RawUpstream(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def raw_harness(
    harness_binary: Path, raw_upstream: RawUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    started = start_harness(
        harness_binary, raw_upstream.server_address[1], tmp_path_factory.mktemp("logs")
    )
    yield started
    stop_harness(started)


@pytest.fixture(scope="session")
def lonely_harness(
    harness_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    """A harness whose upstream port has nothing listening on it."""
    started = start_harness(harness_binary, free_port(), tmp_path_factory.mktemp("logs"))
    yield started
    stop_harness(started)


@pytest.fixture
def own_harness(harness_binary: Path, upstream: int, tmp_path: Path) -> Iterator[Harness]:
    """A harness in front of the Starlette upstream for one test, stopped after it: it must
    exit 0 with nothing from the sanitizers (a `done` called twice or a call used after it
    ended is a double free or a use after free for ASan, a call never ended a leak)."""
    started = start_harness(harness_binary, upstream, tmp_path)
    yield started
    stop_harness(started)


@pytest.fixture
def own_raw_harness(
    harness_binary: Path, raw_upstream: RawUpstream, tmp_path: Path
) -> Iterator[Harness]:
    """Like own_harness, in front of the raw upstream."""
    started = start_harness(harness_binary, raw_upstream.server_address[1], tmp_path)
    yield started
    stop_harness(started)


@pytest.fixture(autouse=True)
def still_answering(harness: Harness) -> Iterator[None]:
    """After every test (hostile or not) every harness still answers /echo."""
    yield
    for started in list(STARTED):
        assert started.process.poll() is None, started.stderr_path.read_text(errors="replace")
        assert started.get("/echo").status == 200


# --- requests and answers -------------------------------------------------------------------------


def test_echo_describes_the_request(harness: Harness) -> None:
    answer, _ = exchange(
        harness.port,
        request("/echo?a=1&b=%20", method="POST", headers="X-Thing:  spaced  \r\n", body=b"hi"),
    )
    assert answer.status == 200
    assert answer.header("content-type") == "application/json"
    assert answer.header("date")
    seen = answer.json()
    assert seen["method"] == "POST"
    assert seen["target"] == "/echo?a=1&b=%20"
    assert (seen["path"], seen["query"]) == ("/echo", "a=1&b=%20")
    assert seen["peer"] == "127.0.0.1"
    assert ["X-Thing", "spaced"] in seen["headers"]
    assert (seen["body"], seen["bodyLength"]) == ("hi", 2)


def test_many_requests_share_one_kept_alive_connection(harness: Harness) -> None:
    sock, reader = open_socket(harness.port)
    for i in range(100):
        sock.sendall(request(f"/echo?i={i}"))
        answer = read_answer(reader)
        assert answer.status == 200
        assert answer.header("connection") is None
        assert answer.json()["query"] == f"i={i}"
    sock.close()


def test_http10_keeps_alive_only_when_asked(harness: Harness) -> None:
    sock, reader = open_socket(harness.port)
    for _ in range(3):
        sock.sendall(request("/echo", version="1.0", headers="Connection: keep-alive\r\n"))
        answer = read_answer(reader)
        assert answer.status == 200
        assert answer.header("connection") == "keep-alive"
    sock.sendall(request("/echo", version="1.0"))
    answer = read_answer(reader)
    assert answer.header("connection") == "close"
    assert reader.closed()


def test_connection_close_is_honoured(harness: Harness) -> None:
    answer, reader = exchange(harness.port, request("/echo", headers="Connection: close\r\n"))
    assert answer.status == 200
    assert answer.header("connection") == "close"
    assert reader.closed()


def test_pipelined_requests_are_answered_in_order(harness: Harness) -> None:
    sock, reader = open_socket(harness.port)
    # /later answers 100 ms after /echo would: order is kept only if net waits for each answer.
    paths = [f"/{'later' if i % 3 == 0 else 'echo'}?i={i}" for i in range(12)]
    sock.sendall(b"".join(request(path) for path in paths))
    for i in range(12):
        answer = read_answer(reader)
        assert answer.status == 200
        assert answer.json()["query"] == f"i={i}"
    sock.close()


def test_head_answers_carry_the_length_but_no_body(harness: Harness) -> None:
    sock, reader = open_socket(harness.port)
    sock.sendall(request("/echo", method="HEAD") + request("/echo?after"))
    head = read_answer(reader, "HEAD")
    assert head.status == 200
    assert int(head.header("content-length") or 0) > 0
    assert read_answer(reader).json()["query"] == "after"  # no stray body in between
    sock.close()


def test_options_asterisk_is_a_request(harness: Harness) -> None:
    answer, _ = exchange(harness.port, b"OPTIONS * HTTP/1.1\r\nHost: guard\r\n\r\n")
    assert answer.status == 404
    assert answer.json()["errors"][0]["message"] == "Nothing is served at *."


def test_empty_lines_before_a_request_are_ignored(harness: Harness) -> None:
    answer, _ = exchange(harness.port, b"\r\n\r\n" + request("/echo"))
    assert answer.status == 200


def test_chunked_request_bodies_are_decoded(harness: Harness) -> None:
    body = b"5;ext=1\r\nhello\r\n1\r\n \r\n00005\r\nworld\r\n0\r\nX-Trailer: skipped\r\n\r\n"
    answer, _ = exchange(
        harness.port,
        request("/echo", method="POST", headers="Transfer-Encoding: chunked\r\n") + body,
    )
    assert answer.status == 200
    assert (answer.json()["body"], answer.json()["bodyLength"]) == ("hello world", 11)


def test_chunked_body_at_the_limit_is_taken(harness: Harness) -> None:
    half = MAX_BODY_BYTES // 2
    chunk = b"%x\r\n" % half + b"a" * half + b"\r\n"
    answer, _ = exchange(
        harness.port,
        request("/echo", method="POST", headers="Transfer-Encoding: chunked\r\n")
        + chunk * 2
        + b"0\r\n\r\n",
    )
    assert answer.status == 200
    assert answer.json()["bodyLength"] == MAX_BODY_BYTES


def test_expect_100_continue_is_answered_before_the_body(harness: Harness) -> None:
    sock, reader = open_socket(harness.port)
    sock.sendall(POST + b"Expect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    assert reader.until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    sock.sendall(b"body")
    answer = read_answer(reader)
    assert (answer.status, answer.json()["body"]) == (200, "body")
    sock.close()


def test_expect_100_continue_over_the_limit_gets_413_instead(harness: Harness) -> None:
    answer = assert_refused(
        harness.port,
        POST + f"Expect: 100-continue\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode(),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    assert (
        answer.json()["errors"][0]["message"] == f"The request body is over {MAX_BODY_BYTES} bytes."
    )


# --- what net refuses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /echo\r\nHost: guard\r\n\r\n",  # HTTP/0.9-like: no version
        b"GET / HTTP/1.1 extra\r\nHost: guard\r\n\r\n",
        b"GE(T /echo HTTP/1.1\r\nHost: guard\r\n\r\n",
        b"GET  /echo HTTP/1.1\r\nHost: guard\r\n\r\n",
        b"GET echo HTTP/1.1\r\nHost: guard\r\n\r\n",
        b"GET http://guard/echo HTTP/1.1\r\nHost: guard\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: guard\r\n\r\n",
        b"GET /ec\x01ho HTTP/1.1\r\nHost: guard\r\n\r\n",
        b"GET /echo HTTP/1.x\r\nHost: guard\r\n\r\n",
        b"GET /echo http/1.1\r\nHost: guard\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost : guard\r\n\r\n",  # whitespace before the colon
        b"GET /echo HTTP/1.1\r\nHost: guard\r\nNo-Colon\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: guard\r\n: empty-name\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: guard\r\nX-A: a\x00b\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: guard\r\nX-A: a\rb\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: guard\r\nX-A: a\r\n  folded\r\n\r\n",  # obs-fold
        b"GET /echo HTTP/1.1\r\nHost: guard\r\nX-A: a\r\n\tfolded\r\n\r\n",
        b"GET /echo HTTP/1.1\nHost: guard\n\n",  # bare LF
        b"GET /echo HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        POST + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        POST + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        POST + b"Content-Length: +3\r\n\r\nabc",
        POST + b"Content-Length: 3, 3\r\n\r\nabc",
        POST + b"Content-Length: \r\n\r\n",
        b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        POST_CHUNKED + b"zz\r\n",
        POST_CHUNKED + b"\r\n",
        POST_CHUNKED + b"3\r\nabcX\r\n0\r\n\r\n",
        POST_CHUNKED + b"3\nabc\r\n0\r\n\r\n",
        POST_CHUNKED + b"3;\x01\r\nabc\r\n0\r\n\r\n",
        POST_CHUNKED + b"1" + b" " * 5000 + b"\r\n",
        POST_CHUNKED + b"0\r\nX-Trailer: " + b"t" * MAX_HEADER_BYTES + b"\r\n\r\n",
    ],
)
def test_malformed_requests_get_400(harness: Harness, data: bytes) -> None:
    answer = assert_refused(harness.port, data, 400, "BAD_REQUEST")
    assert answer.json()["errors"][0]["message"] == "The request is not valid HTTP."


def test_identical_content_lengths_are_accepted(harness: Harness) -> None:
    answer, _ = exchange(
        harness.port,
        POST + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    )
    assert (answer.status, answer.json()["body"]) == (200, "abc")


@pytest.mark.parametrize("coding", ["gzip", "gzip, chunked", "identity", "chunked, gzip"])
def test_unknown_transfer_codings_get_501(harness: Harness, coding: str) -> None:
    assert_refused(
        harness.port,
        request("/echo", method="POST", headers=f"Transfer-Encoding: {coding}\r\n"),
        501,
        "NOT_IMPLEMENTED",
    )


@pytest.mark.parametrize("version", ["2.0", "0.9", "1.2", "3.0"])
def test_other_http_versions_get_505(harness: Harness, version: str) -> None:
    assert_refused(
        harness.port, request("/echo", version=version), 505, "HTTP_VERSION_NOT_SUPPORTED"
    )


def padded_request(total: int) -> bytes:
    """A request whose head (request line to the empty line) is exactly `total` bytes."""
    bare = len(request("/echo", headers="X-Pad: \r\n"))
    return request("/echo", headers=f"X-Pad: {'p' * (total - bare)}\r\n")


def test_headers_at_the_limit_are_taken(harness: Harness) -> None:
    data = padded_request(MAX_HEADER_BYTES)
    assert len(data) == MAX_HEADER_BYTES
    answer, _ = exchange(harness.port, data)
    assert answer.status == 200


def test_headers_over_the_limit_get_431(harness: Harness) -> None:
    answer = assert_refused(
        harness.port, padded_request(MAX_HEADER_BYTES + 1), 431, "REQUEST_HEADER_FIELDS_TOO_LARGE"
    )
    assert answer.json()["errors"][0]["message"] == "The request headers are over 16 KiB."


def test_a_head_that_never_ends_gets_431_without_waiting(harness: Harness) -> None:
    sock, reader = open_socket(harness.port)
    sock.sendall(b"GET /echo HTTP/1.1\r\nHost: guard\r\nX-Pad: " + b"p" * (MAX_HEADER_BYTES + 100))
    answer = read_answer(reader)
    assert answer.status == 431
    assert reader.closed()


def test_a_hundred_headers_are_taken_and_more_get_431(harness: Harness) -> None:
    hundred = "".join(f"X-H{i}: {i}\r\n" for i in range(99))  # with Host: 100
    answer, _ = exchange(harness.port, request("/echo", headers=hundred))
    assert answer.status == 200
    assert len(answer.json()["headers"]) == 100
    assert_refused(
        harness.port,
        request("/echo", headers=hundred + "X-H99: 99\r\n"),
        431,
        "REQUEST_HEADER_FIELDS_TOO_LARGE",
    )


def test_a_body_at_the_limit_is_taken(harness: Harness) -> None:
    answer, _ = exchange(harness.port, request("/echo", method="POST", body=b"b" * MAX_BODY_BYTES))
    assert (answer.status, answer.json()["bodyLength"]) == (200, MAX_BODY_BYTES)


def test_a_declared_body_over_the_limit_gets_413_at_once(harness: Harness) -> None:
    head = POST + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
    assert_refused(harness.port, head, 413, "PAYLOAD_TOO_LARGE")  # the body was never sent
    huge = POST + b"Content-Length: 99999999999999999999999999\r\n\r\n"
    assert_refused(harness.port, huge, 413, "PAYLOAD_TOO_LARGE")


def test_a_chunked_body_over_the_limit_gets_413(harness: Harness) -> None:
    half = MAX_BODY_BYTES // 2
    chunk = b"%x\r\n" % half + b"a" * half + b"\r\n"
    data = (
        request("/echo", method="POST", headers="Transfer-Encoding: chunked\r\n")
        + chunk * 2
        + b"1\r\nz\r\n0\r\n\r\n"
    )
    assert_refused(harness.port, data, 413, "PAYLOAD_TOO_LARGE")


def test_a_declared_chunk_over_the_limit_gets_413_at_once(harness: Harness) -> None:
    for size in (b"%x" % (MAX_BODY_BYTES + 1), b"f" * 40):
        data = (
            request("/echo", method="POST", headers="Transfer-Encoding: chunked\r\n")
            + size
            + b"\r\n"
        )
        assert_refused(harness.port, data, 413, "PAYLOAD_TOO_LARGE")


def elapsed_refusal(port: int, data: bytes, trickle: bytes = b"") -> tuple[float, Answer]:
    sock, reader = open_socket(port)
    start = time.monotonic()
    sock.sendall(data)
    for byte in trickle:  # a byte every 0.3 s does not reset the deadline
        if select.select([sock], [], [], 0.3)[0]:
            break
        sock.sendall(bytes([byte]))
    answer = read_answer(reader)
    assert reader.closed()
    return time.monotonic() - start, answer


def test_a_head_that_trickles_in_gets_408(harness: Harness) -> None:
    took, answer = elapsed_refusal(
        harness.port, b"GET /echo HTTP/1.1\r\n", trickle=b"Host: guard, slowly"
    )
    assert answer.status == 408
    assert answer.json()["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert 1.7 < took < 3.5


def test_a_silent_connection_gets_408(harness: Harness) -> None:
    took, answer = elapsed_refusal(harness.port, b"")
    assert answer.status == 408
    assert 1.7 < took < 3.5


def test_a_body_that_never_ends_gets_408(harness: Harness) -> None:
    took, answer = elapsed_refusal(
        harness.port, request("/echo", method="POST", headers="Content-Length: 100\r\n") + b"part"
    )
    assert answer.status == 408
    assert 3.7 < took < 5.5


def test_an_idle_kept_alive_connection_is_just_closed(harness: Harness) -> None:
    sock, reader = open_socket(harness.port)
    sock.sendall(request("/echo"))
    assert read_answer(reader).status == 200
    start = time.monotonic()
    assert reader.closed(timeout=6)
    assert 2.7 < time.monotonic() - start < 4.5


def test_a_client_that_leaves_before_its_answer_does_no_harm(harness: Harness) -> None:
    for path in ("/later", "/forward/slow?ms=300", "/call/slow?ms=300"):
        sock, _ = open_socket(harness.port)
        sock.sendall(request(path))
        time.sleep(0.02)
        sock.close()
    time.sleep(0.5)  # the answers come to exchanges whose clients are gone


def test_a_client_that_resets_before_its_answer_does_no_harm(harness: Harness) -> None:
    sock, _ = open_socket(harness.port)
    sock.sendall(request("/later"))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    time.sleep(0.3)


def test_garbage_never_crashes_it(harness: Harness) -> None:
    rng = random.Random(1234)
    seeds = [
        request("/echo", method="POST", body=b"x" * 10),
        request("/echo", method="POST", headers="Transfer-Encoding: chunked\r\n")
        + b"3\r\nabc\r\n0\r\n\r\n",
        ws_handshake(),
    ]
    for _ in range(150):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        sock, reader = open_socket(harness.port, timeout=5)
        sock.sendall(bytes(data) + b"\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            reader.rest()
        sock.close()


def test_twenty_thousand_mutated_connections(harness_binary: Path, tmp_path: Path) -> None:
    """net_harness --fuzz: requests and WebSocket frames mutated by an xorshift PRNG, one
    connection each, against an upstream that is down; every connection must be answered
    or closed within 2 s, /echo must keep answering, and the sanitizers must stay quiet."""
    start = time.monotonic()
    run = subprocess.run(
        [str(harness_binary), "--fuzz", str(free_port()), str(free_port()), "20000"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1"},
        check=False,
    )
    assert not any(mark in run.stderr for mark in SANITIZER_MARKS), run.stderr
    assert run.returncode == 0, run.stderr
    assert "20000 connections, 0 hung, 0 failed liveness checks" in run.stderr
    assert time.monotonic() - start < 10


# --- forwarding and calling -----------------------------------------------------------------------


def test_forward_relays_a_json_answer(harness: Harness) -> None:
    data = request(
        "/forward/echo?q=1",
        method="POST",
        headers=(
            "Content-Type: application/json\r\nX-Custom: yes\r\n"
            "Connection: keep-alive\r\nTE: trailers\r\n"
        ),
        body=b'{"a":1}',
    )
    answer, _ = exchange(harness.port, data)
    assert answer.status == 200
    assert answer.header("content-type") == "application/json"
    assert answer.header("x-answer") == "buffered"
    seen = answer.json()
    assert (seen["method"], seen["path"], seen["query"], seen["body"]) == (
        "POST",
        "/echo",
        "q=1",
        '{"a":1}',
    )
    names = [name.lower() for name, _ in seen["headers"]]
    assert "x-custom" in names
    assert "te" not in names
    assert names.count("host") == 1 and names.count("content-length") == 1
    host = dict((n.lower(), v) for n, v in seen["headers"])["host"]
    assert host.startswith("localhost:")  # net resolved it without DNS


def test_forward_and_call_relay_the_status(harness: Harness) -> None:
    assert harness.get("/forward/status/418").status == 418
    assert harness.get("/call/status/503").status == 503
    assert harness.get("/call/nothing-there").status == 404


def test_chunked_json_answers_are_joined(harness: Harness) -> None:
    for path in ("/forward/chunked", "/call/chunked"):
        answer = harness.get(path)
        assert answer.status == 200
        assert answer.header("x-answer") == "buffered"
        assert answer.header("content-length") is not None
        assert answer.json() == {"parts": [{"i": i} for i in range(5)]}


def test_a_large_request_and_answer_pass_through(harness: Harness) -> None:
    answer, _ = exchange(harness.port, request("/forward/echo", method="POST", body=b"z" * 200_000))
    assert answer.json()["bodyLength"] == 200_000
    big = harness.get("/call/big?n=3000000")
    assert len(big.json()["data"]) == 3_000_000


def test_an_event_stream_is_relayed_as_it_comes(harness: Harness) -> None:
    with httpx.Client(trust_env=False, timeout=10) as client:
        start = time.monotonic()
        with client.stream(
            "GET", f"http://127.0.0.1:{harness.port}/forward/sse?n=3&delay=0.4"
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["transfer-encoding"] == "chunked"
            assert response.headers["x-answer"] == "streamed"
            assert "content-length" not in response.headers
            arrivals = []
            text = ""
            for piece in response.iter_text():
                text += piece
                arrivals.append(time.monotonic() - start)
        assert text == "".join(f"event: next\ndata: {i}\n\n" for i in range(3))
        assert arrivals[0] < 0.35  # the first event came long before the stream ended (~0.8 s)
        # The connection is kept alive after the stream.
        assert client.get(f"http://127.0.0.1:{harness.port}/echo").status_code == 200


def test_a_non_json_answer_is_streamed_and_net_call_never_streams(harness: Harness) -> None:
    streamed = harness.get("/forward/text")
    assert streamed.header("transfer-encoding") == "chunked"
    assert streamed.header("x-answer") == "streamed"
    assert streamed.body == b"plain text, not JSON"
    called = harness.get("/call/sse?delay=0.01")
    assert called.header("x-answer") == "buffered"
    assert called.body.count(b"data:") == 3


def test_an_http10_client_gets_a_stream_until_close(harness: Harness) -> None:
    answer, _ = exchange(harness.port, request("/forward/sse?delay=0.05", version="1.0"))
    assert answer.header("transfer-encoding") is None
    assert answer.header("connection") == "close"
    assert answer.body.count(b"data:") == 3


def test_a_client_leaving_a_stream_closes_the_upstream_stream(
    harness: Harness, upstream_state: UpstreamState
) -> None:
    before = upstream_state.streams_cut
    sock, reader = open_socket(harness.port)
    sock.sendall(request("/forward/sse?n=100&delay=0.05"))
    answer_head = reader.until(b"\r\n\r\n")
    assert b"200 OK" in answer_head
    reader.until(b"data: 0")
    sock.close()
    assert eventually(lambda: upstream_state.streams_cut == before + 1)


def test_a_client_that_does_not_read_a_stream_is_closed(
    harness: Harness, upstream_state: UpstreamState
) -> None:
    before = upstream_state.streams_cut
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", harness.port))
    sock.sendall(request("/forward/flood?mb=48"))
    time.sleep(2)
    received = Reader(sock).rest()
    assert len(received) < 48 << 20
    assert not received.endswith(b"0\r\n\r\n")
    assert eventually(lambda: upstream_state.streams_cut == before + 1)
    assert "reads too slowly" in harness.stderr_path.read_text()


def test_net_call_times_out_and_net_forward_waits(harness: Harness) -> None:
    slow = harness.get("/call/slow?ms=1500")
    assert slow.status == 504
    assert slow.json()["errors"][0] == {
        "message": "upstream: no answer within 1000 ms",
        "extensions": {"code": "GATEWAY_TIMEOUT"},
    }
    assert harness.get("/forward/slow?ms=1200").json() == {"slow": True}


def within(path: str) -> str:
    """The harness's route that forwards to the upstream's `path` with a timeout."""
    return f"/forward-within/{FORWARD_TIMEOUT_MS}{path}"


@pytest.mark.parametrize("mode", ["silent", "slow-body"])
def test_a_forward_without_its_answer_in_time_gets_504(
    own_raw_harness: Harness, raw_upstream: RawUpstream, mode: str
) -> None:
    """An upstream that takes the request and never answers, or sends the head of a JSON
    answer and never its body: the client hears so once the timeout passes, on a connection
    kept alive, and the upstream connection is closed."""
    abandoned = raw_upstream.abandoned
    sock, reader = open_socket(own_raw_harness.port)
    start = time.monotonic()
    sock.sendall(request(within("/x"), headers=f"X-Mode: {mode}\r\n"))
    answer = read_answer(reader)
    elapsed = time.monotonic() - start
    assert answer.status == 504, answer.body
    assert answer.json()["errors"][0] == {
        "message": f"upstream: no answer within {FORWARD_TIMEOUT_MS} ms",
        "extensions": {"code": "GATEWAY_TIMEOUT"},
    }
    assert FORWARD_TIMEOUT_MS / 1000 - 0.02 < elapsed < FORWARD_TIMEOUT_MS / 1000 + 0.7
    assert answer.header("connection") is None
    assert eventually(lambda: raw_upstream.abandoned == abandoned + 1)
    sock.sendall(request(within("/x")))
    assert read_answer(reader).json()["mode"] == ""
    sock.close()


def test_an_answer_after_the_timeout_is_not_read_as_the_next_ones(
    own_raw_harness: Harness,
) -> None:
    """The upstream answers the first request after the harness gave up on it: had its
    connection gone back to the pool, the next request would have gone out on it and got
    that late answer as its own."""
    sock, reader = open_socket(own_raw_harness.port)
    sock.sendall(request(within("/x"), headers="X-Mode: late\r\n"))
    assert read_answer(reader).status == 504
    start = time.monotonic()
    sock.sendall(request(within("/x"), headers="X-Mode: plain\r\n"))
    second = read_answer(reader)
    # Answered while the late answer was still to come.
    assert time.monotonic() - start < LATE_ANSWER_S - FORWARD_TIMEOUT_MS / 1000
    assert (second.status, second.json()["mode"]) == (200, "plain")
    time.sleep(LATE_ANSWER_S)  # the late answer went out meanwhile
    sock.sendall(request(within("/x"), headers="X-Mode: third\r\n"))
    third = read_answer(reader)
    assert (third.status, third.json()["mode"]) == (200, "third")
    sock.close()


def test_answers_in_time_end_their_timers(own_harness: Harness) -> None:
    """JSON answers, whole or chunked, and a short stream that come in time: once the
    timeout would have passed nothing more happens (the sanitizers would tell a `done`
    called twice)."""
    sock, reader = open_socket(own_harness.port)
    for path, answered in (("/echo", "buffered"), ("/chunked", "buffered"), ("/text", "streamed")):
        sock.sendall(request(within(path)))
        answer = read_answer(reader)
        assert (answer.status, answer.header("x-answer")) == (200, answered), answer.body
    time.sleep(FORWARD_TIMEOUT_MS / 1000 + 0.2)
    sock.sendall(request(within("/echo")))
    assert read_answer(reader).status == 200
    sock.close()


def test_a_stream_runs_on_past_the_timeout(
    own_harness: Harness, upstream_state: UpstreamState
) -> None:
    """The timeout bounds the wait for an event stream to begin, not the stream: this one
    lasts more than four times it, with silences longer than it between events."""
    cut = upstream_state.streams_cut
    url = f"http://127.0.0.1:{own_harness.port}{within('/sse?n=4&delay=0.4')}"
    with httpx.Client(trust_env=False, timeout=10) as client:
        start = time.monotonic()
        with client.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers["x-answer"] == "streamed"
            text = "".join(response.iter_text())
        elapsed = time.monotonic() - start
        assert text == "".join(f"event: next\ndata: {i}\n\n" for i in range(4))
        assert elapsed > 4 * FORWARD_TIMEOUT_MS / 1000
        assert upstream_state.streams_cut == cut
        # The connection is kept alive after the stream.
        assert client.get(f"http://127.0.0.1:{own_harness.port}/echo").status_code == 200


def test_an_upstream_that_is_down_gives_503(lonely_harness: Harness) -> None:
    for path in ("/forward/echo", "/call/echo"):
        answer = lonely_harness.get(path)
        assert answer.status == 503
        assert "Connection refused" in answer.json()["errors"][0]["message"]


def test_a_request_on_a_connection_the_upstream_dropped_is_retried(
    raw_harness: Harness, raw_upstream: RawUpstream
) -> None:
    sock, reader = open_socket(raw_harness.port)
    connections, dropped = raw_upstream.connections, raw_upstream.dropped
    for _ in range(4):
        sock.sendall(request("/call/anything"))
        answer = read_answer(reader)
        assert answer.status == 200, answer.body
    sock.close()
    # Each request after the first went out on the kept-alive connection, which the
    # upstream dropped unanswered; each was sent again on a fresh connection.
    assert raw_upstream.connections - connections >= 4
    assert raw_upstream.dropped - dropped >= 3


def test_an_upstream_closing_idle_connections_between_requests(harness: Harness) -> None:
    first = harness.get("/call/echo").json()["client"]
    time.sleep(1.6)  # uvicorn closes the kept-alive connection after 1 s idle
    for path in ("/call/echo", "/forward/echo"):
        answer = harness.get(path)
        assert answer.status == 200
        assert answer.json()["client"] != first


def test_a_fresh_connection_that_hangs_up_is_not_retried(
    raw_harness: Harness, raw_upstream: RawUpstream
) -> None:
    answer, _ = exchange(
        raw_harness.port, request("/forward/anything", headers="X-Mode: hangup\r\n")
    )
    assert answer.status == 503
    assert (
        answer.json()["errors"][0]["message"]
        == "upstream: the connection closed before the whole answer"
    )


@pytest.mark.parametrize("mode", ["early-hints", "until-close", "chunked-trailers"])
def test_answers_are_read_in_every_framing(raw_harness: Harness, mode: str) -> None:
    for path in ("/call/x", "/forward/x"):
        answer, _ = exchange(raw_harness.port, request(path, headers=f"X-Mode: {mode}\r\n"))
        assert answer.status == 200, answer.body
        assert answer.header("x-answer") == "buffered"
        assert answer.json()["connection"] > 0


def test_an_upstream_100_continue_is_skipped(harness: Harness) -> None:
    sock, reader = open_socket(harness.port)
    sock.sendall(
        b"POST /forward/echo HTTP/1.1\r\nHost: guard\r\nExpect: 100-continue\r\n"
        b"Content-Length: 5\r\n\r\n"
    )
    assert reader.until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    sock.sendall(b"hello")
    answer = read_answer(reader)
    assert (answer.status, answer.json()["body"]) == (200, "hello")
    sock.close()


async def test_two_hundred_concurrent_clients(harness: Harness) -> None:
    upstream_connections: set[str] = set()

    async def client(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", harness.port)
        for j in range(6):
            path = f"/{['echo', 'forward/echo', 'call/echo'][j % 3]}?c={i}&r={j}"
            writer.write(request(path))
            await writer.drain()
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            assert head.startswith("HTTP/1.1 200 "), head
            length = int(
                next(
                    line for line in head.split("\r\n") if line.lower().startswith("content-length")
                ).split(":")[1]
            )
            seen = json.loads(await reader.readexactly(length))
            assert seen["query"] == f"c={i}&r={j}"
            if j % 3:
                upstream_connections.add(seen["client"])
        writer.close()
        await writer.wait_closed()

    await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(200))), 60)
    # 800 upstream requests went over the harness's pool of at most 8 kept-alive connections.
    assert 1 < len(upstream_connections) <= 8


# --- WebSockets -----------------------------------------------------------------------------------


def ws_url(harness: Harness) -> str:
    return f"ws://127.0.0.1:{harness.port}/ws"


async def test_websocket_relay_with_the_subprotocol(harness: Harness) -> None:
    async with connect(ws_url(harness), subprotocols=[PROTOCOL], proxy=None) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == PROTOCOL
        await ws.send("whoami")
        assert json.loads(await ws.recv()) == {"subprotocol": PROTOCOL}
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\x01binary")
        assert await ws.recv() == b"\x00\x01binary"


async def test_websocket_relay_without_a_subprotocol(harness: Harness) -> None:
    async with connect(ws_url(harness), proxy=None) as ws:
        assert ws.subprotocol is None
        await ws.send("whoami")
        assert json.loads(await ws.recv()) == {"subprotocol": None}


async def test_messages_sent_before_the_engine_answers_are_queued(harness: Harness) -> None:
    async with connect(ws_url(harness), proxy=None) as ws:
        for i in range(50):
            await ws.send(f"message {i}")
        assert [await ws.recv() for _ in range(50)] == [f"message {i}" for i in range(50)]


async def test_fragmented_messages_are_joined(harness: Harness) -> None:
    async with connect(ws_url(harness), proxy=None) as ws:
        await ws.send(["frag", "ment", "ed"])
        assert await ws.recv() == "fragmented"
        await ws.send([b"\x01", b"\x02"])
        assert await ws.recv() == b"\x01\x02"


async def test_pings_are_answered_both_ways(harness: Harness) -> None:
    async with connect(ws_url(harness), proxy=None) as ws:
        latency = await asyncio.wait_for(await ws.ping(b"are you there"), 2)
        assert latency >= 0
        # The upstream pings every 0.3 s and drops sockets that do not answer in 0.5 s.
        await asyncio.sleep(1.5)
        await ws.send("still here")
        assert await ws.recv() == "still here"


async def test_a_message_at_the_limit_passes_and_over_it_gets_1009(harness: Harness) -> None:
    async with connect(ws_url(harness), proxy=None, max_size=None) as ws:
        await ws.send("m" * MAX_WS_MESSAGE)
        assert len(await ws.recv()) == MAX_WS_MESSAGE
        await ws.send("m" * (MAX_WS_MESSAGE + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_fragments_over_the_limit_get_1009(harness: Harness) -> None:
    async with connect(ws_url(harness), proxy=None) as ws:
        await ws.send(["m" * (MAX_WS_MESSAGE // 2), "m" * (MAX_WS_MESSAGE // 2 + 1)])
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_the_engine_closing_closes_the_client_with_its_code(harness: Harness) -> None:
    async with connect(ws_url(harness), proxy=None) as ws:
        await ws.send("close:4321:bye")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4321, "bye")


async def test_the_client_closing_closes_the_engine(
    harness: Harness, upstream_state: UpstreamState
) -> None:
    before = len(upstream_state.ws_close_codes)
    async with connect(ws_url(harness), proxy=None) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.close(4000, "leaving")
        assert ws.close_code == 4000  # echoed by net
    assert await asyncio.to_thread(eventually, lambda: len(upstream_state.ws_close_codes) > before)
    assert upstream_state.ws_close_codes[before:] == [1000]


async def test_close_me_closes_with_4400(harness: Harness) -> None:
    async with connect(ws_url(harness), proxy=None) as ws:
        await ws.send("close-me")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4400, "asked")


async def test_an_engine_refusing_the_handshake_closes_with_1011(harness: Harness) -> None:
    async with connect(ws_url(harness), proxy=None, additional_headers={"X-Mode": "reject"}) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1011, UNREACHABLE)


def test_a_client_frame_that_is_not_masked_gets_1002(harness: Harness) -> None:
    sock, reader = ws_open_raw(harness.port)
    sock.sendall(ws_frame(0x1, b"unmasked", masked=False))
    assert ws_close_of(reader)[0] == 1002
    assert reader.closed()


@pytest.mark.parametrize(
    "frames",
    [
        ws_frame(0x1, b"rsv", rsv=0x40),
        ws_frame(0x3, b"unknown opcode"),
        ws_frame(0x0, b"continuation without a start"),
        ws_frame(0x1, b"start", fin=False) + ws_frame(0x1, b"another start"),
        ws_frame(0x9, b"p" * 126),  # a control frame over 125 bytes
        ws_frame(0x9, b"ping", fin=False),  # a fragmented control frame
        ws_frame(0x8, b"\x03"),  # a one-byte close payload
        ws_frame(0x8, struct.pack("!H", 1005)),  # a code that cannot be sent
    ],
)
def test_protocol_errors_get_1002(harness: Harness, frames: bytes) -> None:
    sock, reader = ws_open_raw(harness.port)
    sock.sendall(frames)
    assert ws_close_of(reader)[0] == 1002
    assert reader.closed()


@pytest.mark.parametrize(
    "frames",
    [
        ws_frame(0x1, b"\xff\xfe not utf-8"),
        ws_frame(0x1, b"\xe2\x82", fin=False) + ws_frame(0x0, b"\x28"),
        ws_frame(0x8, struct.pack("!H", 1000) + b"\xc3\x28"),
    ],
)
def test_invalid_utf8_gets_1007(harness: Harness, frames: bytes) -> None:
    sock, reader = ws_open_raw(harness.port)
    sock.sendall(frames)
    assert ws_close_of(reader)[0] == 1007
    assert reader.closed()


def test_text_split_inside_a_character_is_valid(harness: Harness) -> None:
    sock, reader = ws_open_raw(harness.port)
    sock.sendall(ws_frame(0x1, b"\xe2\x82", fin=False) + ws_frame(0x0, b"\xac"))
    assert ws_read_frame(reader) == (True, 0x1, "€".encode())
    sock.sendall(ws_frame(0x8, struct.pack("!H", 1000)))
    assert ws_close_of(reader) == (1000, "")
    assert reader.closed()


def test_a_ping_gets_its_pong_and_pongs_are_ignored(harness: Harness) -> None:
    sock, reader = ws_open_raw(harness.port)
    sock.sendall(ws_frame(0xA, b"unasked pong") + ws_frame(0x9, b"payload"))
    assert ws_read_frame(reader) == (True, 0xA, b"payload")
    sock.sendall(
        ws_frame(0x1, b"big", fin=False) + ws_frame(0x9, b"between") + ws_frame(0x0, b" one")
    )
    assert ws_read_frame(reader) == (True, 0xA, b"between")
    assert ws_read_frame(reader) == (True, 0x1, b"big one")
    sock.close()


def test_a_client_that_vanishes_closes_the_engine(
    harness: Harness, upstream_state: UpstreamState
) -> None:
    before = len(upstream_state.ws_close_codes)
    sock, reader = ws_open_raw(harness.port)
    sock.sendall(ws_frame(0x1, b"hi"))
    assert ws_read_frame(reader) == (True, 0x1, b"hi")
    sock.close()
    assert eventually(lambda: len(upstream_state.ws_close_codes) > before)
    assert upstream_state.ws_close_codes[before:] == [1000]


@pytest.mark.parametrize(
    ("handshake", "status", "code"),
    [
        (ws_handshake("/not-a-socket"), 404, "NOT_FOUND"),
        (ws_handshake().replace(b"Version: 13", b"Version: 12"), 426, "UPGRADE_REQUIRED"),
        (ws_handshake().replace(b"Sec-WebSocket-Version: 13\r\n", b""), 426, "UPGRADE_REQUIRED"),
        (ws_handshake(key="short=="), 400, "BAD_REQUEST"),
        (ws_handshake(key="!" * 22 + "=="), 400, "BAD_REQUEST"),
        (ws_handshake().replace(b"GET", b"POST"), 400, "BAD_REQUEST"),
    ],
)
def test_bad_upgrades_are_refused(
    harness: Harness, handshake: bytes, status: int, code: str
) -> None:
    answer = assert_refused(harness.port, handshake, status, code)
    if status == 426:
        assert answer.header("sec-websocket-version") == "13"


def test_an_upgrade_without_connection_upgrade_is_a_request(harness: Harness) -> None:
    answer, _ = exchange(
        harness.port, ws_handshake("/echo").replace(b"Connection: Upgrade\r\n", b"")
    )
    assert answer.status == 200


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("drop", ""), ("empty-close", ""), ("bad-accept", UNREACHABLE), ("masked", UNREACHABLE)],
)
def test_engine_failures_close_the_client_with_1011(
    raw_harness: Harness, mode: str, reason: str
) -> None:
    sock, reader = ws_open_raw(raw_harness.port, headers=f"X-Mode: {mode}\r\n")
    assert ws_close_of(reader) == (1011, reason)
    sock.sendall(ws_frame(0x8, struct.pack("!H", 1011)))
    assert reader.closed()


def test_an_engine_sending_masked_frames_gets_1002(
    raw_harness: Harness, raw_upstream: RawUpstream
) -> None:
    before = len(raw_upstream.ws_close_codes)
    sock, reader = ws_open_raw(raw_harness.port, headers="X-Mode: masked\r\n")
    assert ws_close_of(reader)[0] == 1011
    assert eventually(lambda: len(raw_upstream.ws_close_codes) > before)
    assert raw_upstream.ws_close_codes[before:] == [1002]
    sock.close()


def test_an_engine_that_is_down_closes_the_client_with_1011(lonely_harness: Harness) -> None:
    sock, reader = ws_open_raw(lonely_harness.port)
    assert ws_close_of(reader) == (1011, UNREACHABLE)
    sock.close()


def test_websocket_garbage_never_crashes_it(harness: Harness) -> None:
    rng = random.Random(99)
    seeds = [
        ws_frame(0x1, b"hello"),
        ws_frame(0x2, b"\x00" * 300),
        ws_frame(0x1, b"a", fin=False) + ws_frame(0x0, b"b"),
        ws_frame(0x9, b"ping"),
        ws_frame(0x8, struct.pack("!H", 1000) + b"bye"),
    ]
    for _ in range(60):
        sock, reader = ws_open_raw(harness.port)
        data = bytearray(b"".join(rng.choice(seeds) for _ in range(3)))
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        sock.sendall(bytes(data))
        sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            reader.rest()
        sock.close()


# --- stopping -------------------------------------------------------------------------------------


def test_sigterm_lets_answers_in_flight_finish_then_exits_0(
    harness_binary: Path, upstream: int, tmp_path: Path
) -> None:
    stopping = start_harness(harness_binary, upstream, tmp_path)
    STARTED.remove(stopping)  # still_answering must not probe it once it is gone
    finishing, finishing_reader = open_socket(stopping.port)
    finishing.sendall(request("/forward/slow?ms=800"))
    stuck, stuck_reader = open_socket(stopping.port)
    stuck.sendall(request("/forward/slow?ms=6000"))
    idle, idle_reader = open_socket(stopping.port)
    idle.sendall(request("/echo"))
    assert read_answer(idle_reader).status == 200
    ws, ws_reader = ws_open_raw(stopping.port)
    time.sleep(0.3)

    start = time.monotonic()
    stopping.process.send_signal(signal.SIGTERM)
    assert idle_reader.closed(timeout=2)  # an idle kept-alive connection: closed at once
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", stopping.port), timeout=2)
    assert ws_close_of(ws_reader) == (1001, "The gateway is shutting down")
    ws.sendall(ws_frame(0x8, struct.pack("!H", 1001)))
    answer = read_answer(finishing_reader)  # the answer in flight still comes, closing
    assert (answer.status, answer.header("connection")) == (200, "close")

    code = stopping.process.wait(timeout=10)
    stderr = stopping.stderr_path.read_text(errors="replace")
    assert not any(mark in stderr for mark in SANITIZER_MARKS), stderr
    assert code == 0, stderr
    assert 1.8 < time.monotonic() - start < 4  # the stuck request had 2 s, then was cut
    with contextlib.suppress(EOFError, ConnectionResetError):
        assert stuck_reader.rest() == b""
