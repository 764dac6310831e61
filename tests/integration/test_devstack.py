"""The embedded infrastructure and the supervisor, against the real servers."""

from __future__ import annotations

import asyncio
import json
import textwrap
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from kindred.devstack.postgres import EmbeddedPostgres, create_databases, database_url
from kindred.devstack.process import StartupError, free_port, port_answers
from kindred.devstack.stack import Stack
from kindred.devstack.supergraph import render_supergraph
from kindred.topics import Topic, all_topic_names

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_postgres_answers_on_tcp_with_every_subgraph_database(infra):
    with psycopg.connect(infra.database_url("user_db")) as conn:
        row = conn.execute(
            "SELECT current_database(), host(inet_server_addr()), inet_server_port()"
        ).fetchone()
        databases = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    port = int(infra.postgres_url.rsplit(":", 1)[1])
    assert row == ("user_db", "127.0.0.1", port)
    assert {"user_db", "queuing_db"} <= databases
    assert set(infra.databases) <= databases


def test_creating_databases_twice_creates_nothing_the_second_time(infra):
    name = f"scratch_{uuid.uuid4().hex[:8]}_db"
    assert create_databases(infra.postgres_url, [name, "user_db"]) == [name]
    assert create_databases(infra.postgres_url, [name, "user_db"]) == []


def test_postgres_data_survives_a_restart(tmp_path):
    port = free_port()
    server = EmbeddedPostgres(tmp_path / "pg", port, log_dir=tmp_path / "logs", echo=False)
    url = server.start()
    try:
        create_databases(url, ["kept_db"])
        with psycopg.connect(database_url(url, "kept_db"), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (note text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
        server.stop()
        assert not port_answers(port)

        assert server.start() == url
        with psycopg.connect(database_url(url, "kept_db")) as conn:
            assert conn.execute("SELECT note FROM kept").fetchall() == [("still here",)]
    finally:
        server.stop()


def test_postgres_refuses_a_taken_port_and_says_what_to_do(tmp_path, infra):
    taken = int(infra.postgres_url.rsplit(":", 1)[1])
    server = EmbeddedPostgres(tmp_path / "pg", taken, log_dir=tmp_path / "logs", echo=False)
    with pytest.raises(StartupError, match=f"port {taken} is taken.*KINDRED_POSTGRES_URL"):
        server.start()


async def test_redis_answers_ping_and_comes_back_after_a_restart(infra):
    client = aioredis.from_url(infra.redis_url)
    try:
        assert await client.ping() is True
        await client.set("devstack:probe", "1")

        infra.stop_redis()
        with pytest.raises(aioredis.ConnectionError):
            await client.ping()

        infra.start_redis()
        assert await client.ping() is True
        assert await client.get("devstack:probe") is None  # a cache: empty after restart
    finally:
        await client.aclose()


async def test_broker_has_every_topic(infra):
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        topics = set(await admin.list_topics())
    finally:
        await admin.close()
    assert set(all_topic_names()) <= topics


async def test_broker_round_trips_a_keyed_message_with_a_header_to_a_group(infra):
    topic = Topic.USER_PROFILE_UPDATED.value
    marker = uuid.uuid4().hex
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=f"devstack-test-{marker}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
    )
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, enable_idempotence=False)
    await consumer.start()
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic,
            value=json.dumps({"marker": marker}).encode(),
            key=b"user-42",
            headers=[("traceparent", b"00-abc-def-01")],
        )
        received = await asyncio.wait_for(_first_with_marker(consumer, marker), timeout=60)
    finally:
        await producer.stop()
        await consumer.stop()
    assert received.key == b"user-42"
    assert json.loads(received.value) == {"marker": marker}
    assert ("traceparent", b"00-abc-def-01") in list(received.headers)
    assert (received.partition, received.offset) == (sent.partition, sent.offset)


async def _first_with_marker(consumer: AIOKafkaConsumer, marker: str):
    async for message in consumer:
        if json.loads(message.value).get("marker") == marker:
            return message
    raise AssertionError("consumer stopped before the message arrived")


def test_render_supergraph_points_each_subgraph_at_its_new_port(tmp_path):
    source = tmp_path / "source.graphql"
    source.write_text(
        textwrap.dedent(
            """\
            enum join__Graph {
              QUEUING @join__graph(name: "queuing", url: "http://127.0.0.1:3002/graphql")
              USER @join__graph(name: "user", url: "http://127.0.0.1:3001/graphql")
            }
            """
        )
    )
    rendered = render_supergraph(source, {"user": 41001, "queuing": 41002}, tmp_path / "out")
    text = rendered.read_text()
    assert '@join__graph(name: "user", url: "http://127.0.0.1:41001/graphql")' in text
    assert '@join__graph(name: "queuing", url: "http://127.0.0.1:41002/graphql")' in text
    assert ":3001" not in text and ":3002" not in text


DUMMY_SUBGRAPH = '''
import os


async def app(scope, receive, send):
    """Answers /health with 200 and /env with the KINDRED_* variables it was given."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":
        status, body = 200, b"ok"
    elif scope["path"] == "/env":
        import json

        status = 200
        body = json.dumps({k: v for k, v in os.environ.items() if k.startswith("KINDRED_")})
        body = body.encode()
    else:
        status, body = 404, b""
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})
'''


def _own_stack(infra, tmp_path: Path, subgraph: str) -> Stack:
    """A supervisor of its own on the session's servers: stopping it stops only its subgraph."""
    return Stack(
        tmp_path / "data",
        subgraph_ports={subgraph: free_port()},
        gateway_port=free_port(),
        trace_store_port=None,
        postgres_url=infra.postgres_url,
        redis_url=infra.redis_url,
        kafka_bootstrap=infra.kafka_bootstrap,
        repo_root=REPO_ROOT,
        echo=False,
    )


def test_supervisor_starts_a_subgraph_with_the_stack_urls_and_stops_it(
    infra, tmp_path, monkeypatch
):
    (tmp_path / "dummy_subgraph.py").write_text(DUMMY_SUBGRAPH)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with _own_stack(infra, tmp_path, "user") as stack:
        stack.start_subgraph("user", timeout=30, app="dummy_subgraph:app")
        port = stack.subgraph_ports["user"]
        env = httpx.get(f"http://127.0.0.1:{port}/env").json()
        stack.stop_subgraph("user")

        assert env["KINDRED_POSTGRES_URL"] == infra.postgres_url
        assert env["KINDRED_REDIS_URL"] == infra.redis_url
        assert env["KINDRED_KAFKA_BOOTSTRAP"] == infra.kafka_bootstrap
        assert env["KINDRED_DATA_DIR"] == str(stack.data_dir)
        assert not port_answers(port)


def test_supervisor_names_the_subgraph_that_never_gets_healthy(infra, tmp_path, monkeypatch):
    (tmp_path / "broken_subgraph.py").write_text("raise SystemExit('no settings')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with _own_stack(infra, tmp_path, "queuing") as stack:
        with pytest.raises(StartupError, match=r"(?s)queuing: exited with code \d+.*no settings"):
            stack.start_subgraph("queuing", timeout=30, app="broken_subgraph:app")


def test_one_process_serves_each_subgraph_on_its_port_and_lets_one_go_alone(infra, tmp_path):
    ports = {"subscription": free_port(), "interaction": free_port()}
    stack = Stack(
        tmp_path / "data",
        subgraph_ports=ports,
        gateway_port=free_port(),
        postgres_url=infra.postgres_url,
        redis_url=infra.redis_url,
        kafka_bootstrap=infra.kafka_bootstrap,
        repo_root=REPO_ROOT,
        echo=False,
        processes="one",
    )

    def health(name: str) -> dict:
        return httpx.get(f"{stack.subgraph_url(name)}/health", timeout=5).json()

    with stack:
        stack.start_subgraphs(timeout=120)
        host = stack.host
        assert host is not None and host.running() and stack.subgraphs == {}
        assert {name: health(name)["subgraph"] for name in ports} == {n: n for n in ports}
        assert {stack.process_of(name) for name in ports} == {host}
        # Each subgraph's lines land in its own log file, as if it ran alone.
        log = (stack.log_dir / "interaction.log").read_text()
        assert f"Uvicorn running on http://127.0.0.1:{ports['interaction']}" in log
        assert "[interaction]" not in log and "subscription" not in log

        stack.stop_subgraph("subscription")  # only that one: the process serves the other
        assert not port_answers(ports["subscription"])
        assert host.running() and health("interaction")["status"] == "ok"

        alone = stack.own_process("subscription")  # back, in a process of its own
        assert alone.pid != host.pid and alone is stack.process_of("subscription")
        assert health("subscription")["status"] == "ok"
    assert not host.running() and not alone.running()
    assert not any(port_answers(port) for port in ports.values())


def test_the_layout_is_one_or_separate(tmp_path, monkeypatch):
    monkeypatch.setenv("KINDRED_DEV_PROCESSES", "many")
    with pytest.raises(StartupError, match=r"KINDRED_DEV_PROCESSES='many'.*separate"):
        Stack(
            tmp_path,
            repo_root=REPO_ROOT,
            postgres_url="postgresql://x",
            redis_url="redis://x",
            kafka_bootstrap="x:1",
        )
