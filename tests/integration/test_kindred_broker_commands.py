"""`kindred topics`, `kindred lag`, `kindred dlq` and `kindred outbox` against the session's
real broker and PostgreSQL (scratch topics and a scratch database, so other tests' data
does not matter)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from kindred.cli import main
from kindred.devstack.broker import create_topics
from kindred.migrations import upgrade
from kindred.topics import dead_letter_topic

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker(infra: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("KINDRED_KAFKA_BOOTSTRAP", infra.kafka_bootstrap)
    yield infra.kafka_bootstrap


async def _kindred(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    return code, capsys.readouterr().out


async def _scratch_topic(bootstrap: str) -> str:
    topic = f"cli-test-{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [topic, dead_letter_topic(topic)])
    return topic


async def test_topics_lists_partitions_and_end_offsets(
    broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = await _scratch_topic(broker)
    producer = AIOKafkaProducer(bootstrap_servers=broker, enable_idempotence=False)
    await producer.start()
    try:
        for _ in range(4):
            await producer.send_and_wait(topic, b"x", key=b"same", partition=1)
    finally:
        await producer.stop()
    code, out = await _kindred(capsys, "topics")
    assert code == 0
    lines = {tuple(line.split()[:2]): line.split() for line in out.splitlines()}
    assert lines[topic, "1"][2:] == ["0", "4", "4"]  # beginning, end, messages
    assert lines[topic, "0"][2:] == ["0", "0", "0"]
    assert ("user.profile.updated", "0") in lines


async def test_lag_shows_committed_end_and_lag_per_group_and_partition(
    broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = await _scratch_topic(broker)
    group = f"cli-test-group-{uuid.uuid4().hex[:6]}"
    producer = AIOKafkaProducer(bootstrap_servers=broker, enable_idempotence=False)
    await producer.start()
    try:
        for n in range(5):
            await producer.send_and_wait(topic, b"%d" % n, partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=broker, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): 3})
        code, out = await _kindred(capsys, "lag", group)
    finally:
        await consumer.stop()
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.startswith(group)]
    assert rows == [[group, topic, "0", "3", "5", "2"]]
    assert "total lag: 2 messages over 1 groups" in out


async def test_dlq_lists_shows_and_redrives_once(
    broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = await _scratch_topic(broker)
    producer = AIOKafkaProducer(bootstrap_servers=broker, enable_idempotence=False)
    await producer.start()
    try:
        for n in range(2):
            await producer.send_and_wait(
                dead_letter_topic(topic),
                b'{"n": %d}' % n,
                key=b"member-1",
                partition=2,
                headers=[
                    ("kindred-error", b"KeyError('user_id')"),
                    ("kindred-original-topic", topic.encode()),
                    ("kindred-original-offset", str(10 + n).encode()),
                    ("kindred-consumer", b"queuing-subgraph"),
                    ("traceparent", b"00-abc-def-01"),
                ],
            )
    finally:
        await producer.stop()

    code, out = await _kindred(capsys, "dlq", "list", topic)
    assert code == 0
    assert "2:0 waiting   consumer=queuing-subgraph key=member-1 error=KeyError('user_id')" in out
    assert f"2 dead letters on {topic}.dlq, 2 not re-driven" in out
    code, out = await _kindred(capsys, "dlq", "show", topic, "2:1")
    assert code == 0 and 'value: {"n": 1}' in out and "kindred-original-offset: 11" in out
    assert (await _kindred(capsys, "dlq", "show", topic, "2:9"))[0] == 2

    code, out = await _kindred(capsys, "dlq", "redrive", topic)
    assert code == 0 and "re-drove 2 dead letters" in out
    code, out = await _kindred(capsys, "dlq", "redrive", f"{topic}.dlq")
    assert code == 0 and "re-drove 0 dead letters" in out  # recorded: nothing twice
    code, out = await _kindred(capsys, "dlq", "list", topic)
    assert "2 not re-driven" not in out and "0 not re-driven" in out

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=broker, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=5000)
        records = [record for part in batches.values() for record in part]
    finally:
        await consumer.stop()
    assert sorted(record.value for record in records) == [b'{"n": 0}', b'{"n": 1}']
    headers = dict(records[0].headers)
    assert headers["traceparent"] == b"00-abc-def-01" and "kindred-error" not in headers
    assert headers["kindred-redriven-from"].startswith(f"{topic}.dlq@2:".encode())
    assert {record.key for record in records} == {b"member-1"}


async def test_outbox_counts_pending_and_failed_and_retries(
    infra: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"outbox_cli_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{infra.postgres_url.rstrip('/')}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{infra.postgres_url.rstrip('/')}/{name}"
    await asyncio.to_thread(upgrade, url, REPO_ROOT / "subgraphs" / "queuing" / "migrations")
    with psycopg.connect(url, autocommit=True) as conn:
        for state in ("pending", "pending", "failed", "published"):
            conn.execute(
                "INSERT INTO outbox (event_id, topic, key, value, headers, created_at, attempts,"
                " failed_at, last_error, published_at) VALUES (%s, 'queue.match.created', 'k', "
                "'{}', '{}', now(), 1, CASE WHEN %s = 'failed' THEN now() END, "
                "CASE WHEN %s = 'failed' THEN 'MessageSizeTooLargeError()' END, "
                "CASE WHEN %s = 'published' THEN now() END)",
                (uuid.uuid4(), state, state, state),
            )
    monkeypatch.setenv("KINDRED_QUEUING_DATABASE_URL", url)
    code, out = await _kindred(capsys, "outbox", "queuing")
    assert code == 0
    assert "queuing: 2 unpublished (oldest from " in out and ", 1 failed" in out
    assert "after 1 attempts: MessageSizeTooLargeError()" in out
    code, out = await _kindred(capsys, "outbox", "queuing", "--retry")
    assert "1 failed rows are pending again" in out
    code, out = await _kindred(capsys, "outbox", "queuing")
    assert "queuing: 3 unpublished" in out and ", 0 failed" in out
    assert (await _kindred(capsys, "outbox", "nosuch"))[0] == 2
