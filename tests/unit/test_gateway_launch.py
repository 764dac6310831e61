"""How the dev stack starts its gateway engine: grafbase's worker threads and config."""

from __future__ import annotations

from pathlib import Path

import pytest

from kindred.devstack.gateway import StartupError, engine_launch, threads_from_env

ROUTER = Path(__file__).resolve().parents[2] / "router"


def test_grafbase_runs_one_worker_thread_unless_told_otherwise() -> None:
    assert threads_from_env({}) == 1
    assert threads_from_env({"KINDRED_GATEWAY_THREADS": ""}) == 1
    assert threads_from_env({"KINDRED_GATEWAY_THREADS": "4"}) == 4


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "65"])
def test_a_thread_count_that_is_not_one_says_what_to_set(value: str) -> None:
    with pytest.raises(StartupError, match=r"KINDRED_GATEWAY_THREADS=.*whole number"):
        threads_from_env({"KINDRED_GATEWAY_THREADS": value})


def test_the_grafbase_launch_carries_its_thread_count_and_dedup_setting(tmp_path: Path) -> None:
    launch = engine_launch(
        "grafbase",
        router=ROUTER,
        work_dir=tmp_path,
        port=4999,
        supergraph=tmp_path / "supergraph.graphql",
        subgraphs={"user": ("http://127.0.0.1:3001/graphql", tmp_path / "user.graphql")},
        dedup=False,
        threads=3,
    )
    assert launch.env == {"TOKIO_WORKER_THREADS": "3"}
    config = (tmp_path / "grafbase.toml").read_text()
    assert "inflight_deduplication = false" in config
    assert 'listen_address = "127.0.0.1:4999"' in config
    assert 'websocket_url = "ws://127.0.0.1:3001/graphql"' in config
