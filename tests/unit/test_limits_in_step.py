"""One set of request limits on every port: subgraphs, the gateway's edge, the Apollo Router."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

import kindred.limits as limits

ROOT = Path(__file__).resolve().parents[2]


def test_the_edge_reads_the_subgraphs_numbers() -> None:
    printed = subprocess.run(
        [
            "node",
            "--input-type=module",
            "-e",
            "import { LIMITS } from './edge/limits.mjs'; console.log(JSON.stringify(LIMITS));",
        ],
        cwd=ROOT / "router",
        capture_output=True,
        text=True,
        check=True,
    )
    edge = json.loads(printed.stdout)
    assert edge["maxBodyBytes"] == limits.MAX_BODY_BYTES
    assert edge["maxQueryBytes"] == limits.MAX_QUERY_BYTES
    assert edge["maxTokens"] == limits.MAX_TOKENS
    assert edge["maxDepth"] == limits.MAX_DEPTH
    assert edge["maxAliases"] == limits.MAX_ALIASES
    assert edge["maxDirectivesPerLocation"] == limits.MAX_DIRECTIVES_PER_LOCATION
    assert edge["maxIntrospectionDepth"] == limits.MAX_INTROSPECTION_DEPTH
    assert edge["maxBatchSize"] == limits.MAX_BATCH_SIZE == 1


def test_the_apollo_router_has_the_same_limits_and_no_introspection() -> None:
    config = yaml.safe_load((ROOT / "router" / "router.yaml").read_text())
    router_limits = config["limits"]
    assert router_limits["http_max_request_bytes"] == limits.MAX_BODY_BYTES
    assert router_limits["parser_max_tokens"] == limits.MAX_TOKENS
    assert router_limits["max_depth"] == limits.MAX_DEPTH
    assert router_limits["max_aliases"] == limits.MAX_ALIASES
    assert router_limits["introspection_max_depth"] is True
    assert config["supergraph"]["introspection"] is False
    assert config["sandbox"]["enabled"] is False
    assert config.get("batching", {}).get("enabled", False) is False
