"""kindred.redis_reads' pure parts: RESP2 replies, commands, and what a URL says."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from redis.exceptions import ResponseError

from kindred.redis_reads import Address, Incomplete, RedisReads, command, parse_reply


def test_an_mget_reply_parses_to_values_and_nulls_and_says_where_the_next_begins() -> None:
    buffer = b"*3\r\n$3\r\nabc\r\n$-1\r\n$0\r\n\r\n+OK\r\n"
    reply, end = parse_reply(buffer)
    assert reply == [b"abc", None, b""]
    assert parse_reply(buffer, end) == (b"OK", len(buffer))


def test_values_may_hold_crlf_and_any_byte() -> None:
    value = b"a\r\nb\x00\xff"
    assert parse_reply(b"$%d\r\n%s\r\n" % (len(value), value))[0] == value


@pytest.mark.parametrize("cut", range(1, len(b"*2\r\n$3\r\nabc\r\n:42\r\n")))
def test_a_reply_cut_anywhere_is_incomplete(cut: int) -> None:
    with pytest.raises(Incomplete):
        parse_reply(b"*2\r\n$3\r\nabc\r\n:42\r\n"[:cut])


def test_an_error_reply_is_a_response_error_value_even_inside_an_array() -> None:
    error, end = parse_reply(b"-NOAUTH Authentication required.\r\n")
    assert isinstance(error, ResponseError) and "NOAUTH" in str(error)
    assert end == len(b"-NOAUTH Authentication required.\r\n")
    reply, _ = parse_reply(b"*2\r\n-ERR bad\r\n:1\r\n")
    assert isinstance(reply, list) and isinstance(reply[0], ResponseError) and reply[1] == 1


def test_null_array_and_bytes_that_are_not_resp2() -> None:
    assert parse_reply(b"*-1\r\n") == (None, 5)
    with pytest.raises(ValueError, match="not a RESP2 reply"):
        parse_reply(b"HTTP/1.1 200 OK\r\n")


def test_a_command_is_an_array_of_bulk_strings() -> None:
    assert command(b"MGET", b"a", b"b c") == b"*3\r\n$4\r\nMGET\r\n$1\r\na\r\n$3\r\nb c\r\n"


def test_a_url_gives_host_port_credentials_and_database() -> None:
    address = Address.from_url("rediss://reader:p%40ss@cache.internal:6380/3")
    assert address == Address("cache.internal", 6380, True, "reader", "p@ss", 3)
    assert address is not None
    assert address.handshake() == [
        command(b"AUTH", b"reader", b"p@ss"),
        command(b"SELECT", b"3"),
    ]
    plain = Address.from_url("redis://127.0.0.1")
    assert plain == Address("127.0.0.1", 6379, False, None, None, 0)
    assert plain is not None and plain.handshake() == []
    password_only = Address.from_url("redis://:secret@h/0")
    assert password_only is not None
    assert password_only.handshake() == [command(b"AUTH", b"secret")]


def test_a_url_it_does_not_speak_is_left_to_redis_py() -> None:
    assert Address.from_url("unix:///run/redis.sock") is None
    assert Address.from_url("redis:///0") is None


def test_each_event_loop_gets_a_connection_of_its_own() -> None:
    """A reader used from a second event loop (a test's, say) does not touch the first
    loop's connection, which that closed loop could no longer serve."""
    served: list[int] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(1)
        with contextlib.suppress(asyncio.IncompleteReadError):
            while await reader.readuntil(b"$1\r\nk\r\n"):  # MGET k
                writer.write(b"*1\r\n$2\r\nok\r\n")
                await writer.drain()

    async def read_once(reads: RedisReads | None) -> tuple[RedisReads, list[bytes | None]]:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reads = reads or RedisReads(Address("127.0.0.1", port, False, None, None, 0), timeout=1)
        reads.address = Address("127.0.0.1", port, False, None, None, 0)
        try:
            return reads, await reads.mget(["k"])
        finally:
            server.close()

    reads, first = asyncio.run(read_once(None))
    _, second = asyncio.run(read_once(reads))
    assert first == second == [b"ok"]
    assert len(served) == 2
