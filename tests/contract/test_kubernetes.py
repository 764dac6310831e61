"""deploy/kubernetes/ renders (tests/kustomize.py, the subset of kustomize it uses) into
objects that are valid for Kubernetes (kubernetes-validate, strict) and agree with
supergraph.yaml and compose.yaml: every subgraph, its port, its settings, its probes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from kindred.topics import Topic
from tests.contract.test_deploy_config import env_of
from tests.kustomize import containers, pod_spec, render

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBE = REPO_ROOT / "deploy" / "kubernetes"
OVERLAY = KUBE / "overlays" / "production"
KUBERNETES_VERSION = "1.31.0"
# Kinds whose schemas kubernetes-validate ships (core and built-in API groups).
BUILT_IN_GROUPS = {"v1", "apps/v1", "batch/v1", "autoscaling/v2", "policy/v1"}
# compose.yaml's settings that differ on a cluster, and why: the servers' Service names.
CLUSTER_VALUES = {
    "KINDRED_POSTGRES_URL": "postgresql://$(PGUSER):$(PGPASSWORD)@kindred-postgres-rw:5432",
    "KINDRED_KAFKA_BOOTSTRAP": "kindred-kafka-bootstrap:9092",
}
# Settings that are secrets on a cluster: from a Secret, never a literal.
SECRET_SETTINGS = {"KINDRED_STRIPE_WEBHOOK_SECRET"}

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def objects() -> list[Obj]:
    return render(OVERLAY)


@pytest.fixture(scope="module")
def subgraphs() -> dict[str, int]:
    config = yaml.safe_load((REPO_ROOT / "supergraph.yaml").read_text())
    return {name: urlsplit(e["routing_url"]).port for name, e in config["subgraphs"].items()}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())["services"]


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(
        f"the production overlay renders no {kind} `{name}` "
        f"(add it to deploy/kubernetes/base/, e.g. subgraphs/<name>.yaml, and list it there)"
    )


def container_env(objects: list[Obj], container: Obj) -> dict[str, Any]:
    """A container's environment: its ConfigMaps' data, then its own `env` (value or source)."""
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        env.update(find(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    for variable in container.get("env", []):
        env[variable["name"]] = variable.get("value", variable.get("valueFrom"))
    return env


def built_in(objects: list[Obj]) -> Iterator[Obj]:
    return (obj for obj in objects if obj["apiVersion"] in BUILT_IN_GROUPS)


def test_every_built_in_object_is_valid_for_kubernetes(objects: list[Obj]) -> None:
    errors = []
    checked = 0
    for obj in built_in(objects):
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {error.message}")
        checked += 1
    assert not errors, "\n".join(errors)
    assert checked >= 40, f"only {checked} objects validated"
    unknown = (
        {o["apiVersion"] for o in objects}
        - BUILT_IN_GROUPS
        - {
            "kafka.strimzi.io/v1beta2",
            "postgresql.cnpg.io/v1",
        }
    )
    assert not unknown, f"objects of API groups nothing checks: {unknown}"


def test_the_validator_catches_a_broken_object(objects: list[Obj]) -> None:
    broken = {**find(objects, "Service", "user"), "spec": {"ports": [{"port": "http"}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_object_is_in_the_namespace_and_labelled(objects: list[Obj]) -> None:
    for obj in objects:
        metadata = obj["metadata"]
        assert metadata["labels"]["app.kubernetes.io/instance"] == "production"
        if obj["kind"] != "Namespace":
            assert metadata.get("namespace") == "kindred", f"{obj['kind']}/{metadata['name']}"
            assert metadata["labels"]["app.kubernetes.io/part-of"] == "kindred"


def test_every_subgraph_has_its_objects_on_its_port(
    objects: list[Obj], subgraphs: dict[str, int], services: dict[str, Any]
) -> None:
    images = set()
    for name, port in subgraphs.items():
        deployment = find(objects, "Deployment", name)
        spec = pod_spec(deployment)
        assert spec is not None
        (main,) = spec["containers"]
        assert main["command"] == services[name]["command"], (
            f"{name} runs {main['command']}, compose.yaml {services[name]['command']}"
        )
        assert main["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert main[kind]["httpGet"] == {"path": "/health", "port": "http"}, f"{name} {kind}"
        assert "/health" in " ".join(services[name]["healthcheck"]["test"])
        for limit in ("cpu", "memory"):
            assert main["resources"]["requests"][limit] and main["resources"]["limits"][limit]

        service = find(objects, "Service", name)
        assert service["spec"]["ports"][0]["port"] == port
        labels = spec_labels(deployment)
        assert service["spec"]["selector"].items() <= labels.items()

        hpa = find(objects, "HorizontalPodAutoscaler", name)
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert "replicas" not in deployment["spec"], f"{name}: the autoscaler sets replicas"
        pdb = find(objects, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        images.add(main["image"])
    assert len(images) == 1, f"subgraphs run different images: {images}"
    assert images.pop().startswith("registry.example.com/kindred/kindred-subgraph:")


def spec_labels(deployment: Obj) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    return labels


def test_prometheus_scrapes_every_subgraphs_metrics(
    objects: list[Obj], subgraphs: dict[str, int]
) -> None:
    """Each subgraph's pods carry the prometheus.io annotations (kubernetes_sd's pod role
    relabelling convention) naming the port that serves /metrics."""
    for name, port in subgraphs.items():
        template = find(objects, "Deployment", name)["spec"]["template"]
        annotations = template["metadata"].get("annotations", {})
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }, f"{name}: its pods are not scraped ({annotations})"
        (main,) = template["spec"]["containers"]
        assert port in [p["containerPort"] for p in main["ports"]]


def test_every_subgraph_is_migrated_by_a_job_before_its_pods_start(
    objects: list[Obj], subgraphs: dict[str, int]
) -> None:
    for name in subgraphs:
        job = find(objects, "Job", f"{name}-migrate")
        (migrate,) = containers(job)
        assert migrate["command"] == ["python", "-m", "kindred.migrate", name]
        deployment = find(objects, "Deployment", name)
        spec = pod_spec(deployment)
        assert spec is not None
        (wait,) = spec["initContainers"]
        assert wait["command"] == ["python", "-m", "kindred.migrate", "--wait", name]
        assert migrate["image"] == wait["image"] == spec["containers"][0]["image"]
        database = container_env(objects, migrate)
        assert database == container_env(objects, wait)
        assert database["KINDRED_POSTGRES_URL"] == CLUSTER_VALUES["KINDRED_POSTGRES_URL"]


def test_every_subgraph_gets_composes_settings(
    objects: list[Obj], subgraphs: dict[str, int], services: dict[str, Any]
) -> None:
    for name in subgraphs:
        (main,) = pod_spec(find(objects, "Deployment", name))["containers"]  # type: ignore[index]
        env = container_env(objects, main)
        for key, value in env_of(services[name]).items():
            assert key in env, f"{name}: compose.yaml sets {key}, the Deployment does not"
            if key in SECRET_SETTINGS:
                assert isinstance(env[key], dict) and "secretKeyRef" in env[key], (
                    f"{name}: {key} must come from a Secret"
                )
                continue
            default = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
            expected = CLUSTER_VALUES.get(key, default.group(1) if default else value)
            assert env[key] == expected, f"{name}: {key}={env[key]!r}, expected {expected!r}"
        names = [v["name"] for v in main["env"]]
        assert names.index("PGPASSWORD") < names.index("KINDRED_POSTGRES_URL"), (
            "$(PGPASSWORD) expands only from a variable defined before it"
        )
        loopback = {k: v for k, v in env.items() if "127.0.0.1" in str(v) or "localhost" in str(v)}
        assert not loopback, f"{name} points at loopback: {loopback}"


def test_every_container_runs_restricted(objects: list[Obj]) -> None:
    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] > 0, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec.get("automountServiceAccountToken") is False, where
        for container in containers(obj):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, f"{where}/{container['name']}"
            assert context["allowPrivilegeEscalation"] is False, f"{where}/{container['name']}"
            assert context["capabilities"] == {"drop": ["ALL"]}, f"{where}/{container['name']}"
            assert container["resources"]["limits"], f"{where}/{container['name']}"


def test_the_user_subgraph_signs_with_the_key_from_the_secret(objects: list[Obj]) -> None:
    (main,) = pod_spec(find(objects, "Deployment", "user"))["containers"]  # type: ignore[index]
    env = container_env(objects, main)
    volumes = {v["name"]: v for v in pod_spec(find(objects, "Deployment", "user"))["volumes"]}  # type: ignore[index]
    mount = next(m for m in main["volumeMounts"] if volumes[m["name"]].get("secret"))
    assert volumes[mount["name"]]["secret"]["secretName"] == "kindred-jwt"
    assert env["KINDRED_JWT_PRIVATE_KEY_PATH"] == f"{mount['mountPath']}/signing.pem"
    assert env["KINDRED_JWT_PUBLISHED_KEYS_PATH"] == f"{mount['mountPath']}/published.pem"
    assert env["KINDRED_JWT_CREATE_KEY"] == "0", "a replica must not make a key of its own"


def test_every_secret_referenced_is_documented(objects: list[Obj]) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    operator_made = {"kindred-postgres-app"}  # CloudNativePG creates it
    for obj in objects:
        text = yaml.safe_dump(obj)
        for secret in set(re.findall(r"secretName: ([\w-]+)", text)) | {
            m for m in re.findall(r"secretKeyRef:\n\s+key: [\w-]+\n\s+name: ([\w-]+)", text)
        }:
            assert secret in operator_made or f"`{secret}`" in readme, (
                f"{obj['kind']}/{obj['metadata']['name']} needs Secret {secret}: "
                "the README's Kubernetes section does not say how to create it"
            )


def test_the_router_serves_the_committed_config_and_supergraph(objects: list[Obj]) -> None:
    for name in ("router/router.yaml", "supergraph.graphql"):
        copy = KUBE / "base" / "router" / Path(name).name
        assert copy.read_text() == (REPO_ROOT / name).read_text(), (
            f"{copy.relative_to(REPO_ROOT)} differs from {name}: run `make compose`"
        )
    router = find(objects, "Deployment", "router")
    spec = pod_spec(router)
    assert spec is not None
    (main,) = spec["containers"]
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    files = {}
    for volume in spec["volumes"]:
        if "configMap" in volume:
            config_map = find(objects, "ConfigMap", volume["configMap"]["name"])
            for key, text in config_map["data"].items():
                files[f"{mounts[volume['name']]}/{key}"] = text
    args = main["args"]
    config = yaml.safe_load(files[args[args.index("--config") + 1]])
    assert config == yaml.safe_load((REPO_ROOT / "router" / "router.yaml").read_text())
    assert (
        files[args[args.index("--supergraph") + 1]]
        == (REPO_ROOT / "supergraph.graphql").read_text()
    )
    listen = int(config["health_check"]["listen"].rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {
        "http": int(config["supergraph"]["listen"].rsplit(":", 1)[1]),
        "health": listen,
    }
    assert main["readinessProbe"]["httpGet"]["port"] == "health"
    # override_subgraph_url names each subgraph's Service and port.
    for name, url in config["override_subgraph_url"].items():
        parts = urlsplit(url)
        service = find(objects, "Service", str(parts.hostname))
        assert service["spec"]["ports"][0]["port"] == parts.port, name


def consumers() -> dict[str, set[str]]:
    """Topic -> the subgraphs that consume it (their handlers.py HANDLERS)."""
    import importlib

    config = yaml.safe_load((REPO_ROOT / "supergraph.yaml").read_text())
    found: dict[str, set[str]] = {}
    for name in config["subgraphs"]:
        handlers = importlib.import_module(f"subgraphs.{name}.handlers").HANDLERS
        for topic in handlers:
            found.setdefault(str(topic), set()).add(name)
    return found


def test_every_topic_and_dead_letter_topic_is_declared(objects: list[Obj]) -> None:
    kafka = find(objects, "Kafka", "kindred")
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    assert kafka["spec"]["entityOperator"]["topicOperator"] is not None
    listener = kafka["spec"]["kafka"]["listeners"][0]
    bootstrap = f"{kafka['metadata']['name']}-kafka-bootstrap:{listener['port']}"
    assert bootstrap == CLUSTER_VALUES["KINDRED_KAFKA_BOOTSTRAP"]
    pool = find(objects, "KafkaNodePool", "kindred-kafka-nodes")
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    replicas = pool["spec"]["replicas"]

    topics = {o["spec"]["topicName"]: o for o in objects if o["kind"] == "KafkaTopic"}
    max_replicas = {
        o["metadata"]["name"]: o["spec"]["maxReplicas"]
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler"
    }
    readers = consumers()
    for topic in Topic:
        for name in (topic.value, topic.dead_letter):
            assert name in topics, f"no KafkaTopic for {name}"
            declared = topics[name]
            assert declared["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
            retention = int(declared["spec"]["config"]["retention.ms"])
            if name in readers and "history" in readers[name]:
                # The history subgraph is rebuilt by replaying these from the first offset.
                assert retention == -1, f"{name}: the history rebuild needs it kept for good"
            else:
                assert retention > 0, f"{name}: no retention"
            assert declared["spec"]["replicas"] <= replicas
        wanted = max((max_replicas[s] for s in readers.get(topic.value, ())), default=1)
        partitions = topics[topic.value]["spec"]["partitions"]
        assert partitions >= wanted, (
            f"{topic.value} has {partitions} partitions; {sorted(readers[topic.value])} "
            f"scale to {wanted} consumers in one group"
        )
    assert set(topics) == {n for t in Topic for n in (t.value, t.dead_letter)}


def test_postgres_has_a_database_per_subgraph_and_room_for_every_pool(
    objects: list[Obj], subgraphs: dict[str, int]
) -> None:
    cluster = find(objects, "Cluster", "kindred-postgres")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] >= 2
    owner = cluster["spec"]["bootstrap"]["initdb"]["owner"]
    assert CLUSTER_VALUES["KINDRED_POSTGRES_URL"].endswith(
        f"@{cluster['metadata']['name']}-rw:5432"
    )
    databases = {o["spec"]["name"]: o for o in objects if o["kind"] == "Database"}
    for name in subgraphs:
        database = databases.get(f"{name}_db")
        assert database is not None, f"no CloudNativePG Database for {name}_db"
        assert database["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
        assert database["spec"]["owner"] == owner
    pool = int(find(objects, "ConfigMap", "kindred-env")["data"]["KINDRED_DB_POOL_SIZE"])
    busiest = sum(
        find(objects, "HorizontalPodAutoscaler", name)["spec"]["maxReplicas"] * pool
        for name in subgraphs
    )
    allowed = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    assert busiest + 2 * len(subgraphs) + 10 <= allowed, (
        f"{busiest} pooled connections at the autoscalers' maximum; max_connections {allowed}"
    )


def test_redis_serves_the_url_the_subgraphs_use(objects: list[Obj]) -> None:
    url = urlsplit(find(objects, "ConfigMap", "kindred-env")["data"]["KINDRED_REDIS_URL"])
    service = find(objects, "Service", str(url.hostname))
    assert service["spec"]["ports"][0]["port"] == url.port
    find(objects, "Deployment", str(url.hostname))
