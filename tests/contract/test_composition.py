"""The committed supergraph.graphql is what composing the subgraphs' SDL gives today,
and composition (router/compose.mjs, @apollo/composition as rover uses it) fails loudly."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import graphql
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = REPO_ROOT / "router" / "compose.mjs"

SUBGRAPH_A = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key"])

type Query { a: User }

type User @key(fields: "id") {
  id: ID!
  name: String!
}
"""

# Same entity, but `name` is an Int here: a type mismatch composition must reject.
SUBGRAPH_B_BROKEN = SUBGRAPH_A.replace("a: User", "b: User").replace("String!", "Int!")

# Contributes a field to the entity, as the queuing subgraph does with User.queueEntry.
SUBGRAPH_B_OK = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key"])

type Query { b: Int }

type User @key(fields: "id") {
  id: ID!
  score: Int!
}
"""


def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("node is not installed (Node 20+ is needed to compose the supergraph)")
    if not (REPO_ROOT / "router" / "node_modules" / "@apollo" / "composition").is_dir():
        pytest.fail("router/node_modules is missing: run `make install`")
    return path


def run_compose(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node(), str(COMPOSE), *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_pair(tmp_path: Path, b_sdl: str) -> Path:
    (tmp_path / "a.graphql").write_text(SUBGRAPH_A)
    (tmp_path / "b.graphql").write_text(b_sdl)
    config = tmp_path / "supergraph.yaml"
    config.write_text(
        "federation_version: =2.11.0\n"
        "subgraphs:\n"
        "  a:\n"
        "    routing_url: http://127.0.0.1:3901/graphql\n"
        "    schema:\n"
        "      file: ./a.graphql\n"
        "  b:\n"
        "    routing_url: http://127.0.0.1:3902/graphql\n"
        "    schema:\n"
        "      file: ./b.graphql\n"
    )
    return config


def test_committed_supergraph_is_current() -> None:
    result = run_compose("--check")
    assert result.returncode == 0, (
        "node router/compose.mjs --check failed "
        f"(exit {result.returncode}):\n{result.stdout}{result.stderr}"
    )


def test_composition_error_fails_and_writes_nothing(tmp_path: Path) -> None:
    config = write_pair(tmp_path, SUBGRAPH_B_BROKEN)
    out = tmp_path / "supergraph.graphql"
    result = run_compose("--config", config, "--out", out)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "composition failed" in result.stderr
    assert "FIELD_TYPE_MISMATCH" in result.stderr
    assert "User.name" in result.stderr
    assert not out.exists()


def test_composes_deterministically_and_check_detects_stale(tmp_path: Path) -> None:
    config = write_pair(tmp_path, SUBGRAPH_B_OK)
    out = tmp_path / "supergraph.graphql"

    first = run_compose("--config", config, "--out", out)
    assert first.returncode == 0, first.stdout + first.stderr
    text = out.read_text()
    assert '@link(url: "https://specs.apollo.dev/join/v0.5", for: EXECUTION)' in text
    assert 'A @join__graph(name: "a", url: "http://127.0.0.1:3901/graphql")' in text
    assert 'B @join__graph(name: "b", url: "http://127.0.0.1:3902/graphql")' in text
    assert "score: Int! @join__field(graph: B)" in text

    second = run_compose("--config", config, "--out", out)
    assert second.returncode == 0
    assert out.read_text() == text, "composition output is not deterministic"

    fresh = run_compose("--config", config, "--out", out, "--check")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr

    out.write_text(text.replace("score: Int!", "score: Int"))
    stale = run_compose("--config", config, "--out", out, "--check")
    assert stale.returncode == 1
    assert "supergraph.graphql is stale: run `make compose`" in stale.stderr


def test_missing_sdl_file_is_a_clear_error(tmp_path: Path) -> None:
    config = write_pair(tmp_path, SUBGRAPH_B_OK)
    (tmp_path / "b.graphql").unlink()
    result = run_compose("--config", config, "--out", tmp_path / "out.graphql")
    assert result.returncode == 2
    assert 'subgraph "b": cannot read SDL file' in result.stderr


# grafbase dev 0.103 (the default engine) panics while composing a block-string
# description this short ("capacity overflow" on `"""Why."""` and `"""When."""`), and the
# gateway then never starts: say so here rather than in an end-to-end timeout.
SHORTEST_DESCRIPTION = 8


def test_no_description_is_short_enough_to_crash_the_engine() -> None:
    document = graphql.parse((REPO_ROOT / "supergraph.graphql").read_text())
    short: list[str] = []

    class Descriptions(graphql.Visitor):
        def enter(self, node: graphql.Node, *_: object) -> None:
            description = getattr(node, "description", None)
            if description is not None and len(description.value) < SHORTEST_DESCRIPTION:
                short.append(description.value)

    graphql.visit(document, Descriptions())
    assert not short, f"descriptions of fewer than {SHORTEST_DESCRIPTION} characters: {short}"
