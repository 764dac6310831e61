"""A small kustomize renderer for the subset of kustomization.yaml that deploy/kubernetes/
uses, so the tests can check what `kubectl apply -k` would apply without a kustomize binary.

Supported (anything else in a kustomization.yaml is an error, not silently ignored):
- `resources`: YAML files (several documents each) and directories holding a kustomization;
- `namespace`: set on every namespaced object (not on Namespaces or cluster-scoped kinds);
- `labels` with `pairs` (and `includeSelectors`, `includeTemplates`); `commonLabels` as
  `labels` with `includeSelectors: true`;
- `images`: `name` -> `newName` / `newTag` / `digest` on pod-template containers;
- `patches` with `path`: strategic merge of whole objects matched by kind and name
  (mappings merge; lists of mappings that all have a `name` merge by name; other lists and
  scalars replace; a null value deletes the key);
- `configMapGenerator` with `files` (and `literals`): the ConfigMap named `<name>-<hash>`,
  and references to it from pod templates (volumes, envFrom, env valueFrom) renamed. The
  hash is a content hash, not byte for byte kustomize's own.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "commonLabels",
    "images",
    "patches",
    "configMapGenerator",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

Obj = dict[str, Any]


class KustomizeError(ValueError):
    pass


def render(directory: Path) -> list[Obj]:
    """Every object the kustomization in `directory` produces, in order."""
    directory = directory.resolve()
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{directory} has no kustomization.yaml")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(spec) - SUPPORTED)
    if unknown:
        raise KustomizeError(f"{path}: not supported by this renderer: {unknown}")

    objects: list[Obj] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        objects.extend(render(target) if target.is_dir() else _load(target))
    renames: dict[str, str] = {}
    for generator in spec.get("configMapGenerator", []):
        config_map = _generate(directory, generator)
        renames[generator["name"]] = config_map["metadata"]["name"]
        objects.append(config_map)
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise KustomizeError(f"{path}: only `patches: - path:` is supported, not {patch}")
        for document in _load((directory / patch["path"]).resolve()):
            _apply_patch(objects, document, where=patch["path"])
    for obj in objects:
        if renames:
            _rename_config_maps(obj, renames)
        if "namespace" in spec and obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = spec["namespace"]
        for image in spec.get("images", []):
            _set_image(obj, image)
    label_sets = list(spec.get("labels", []))
    if spec.get("commonLabels"):
        label_sets.append({"pairs": spec["commonLabels"], "includeSelectors": True})
    for label_set in label_sets:
        for obj in objects:
            _add_labels(obj, label_set)
    _check_unique(objects)
    return objects


def _load(path: Path) -> list[Obj]:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for document in documents:
        if not isinstance(document, dict) or not {"apiVersion", "kind", "metadata"} <= set(
            document
        ):
            raise KustomizeError(f"{path}: a document is not a Kubernetes object")
    return documents


def _generate(directory: Path, generator: Obj) -> Obj:
    unknown = set(generator) - {"name", "files", "literals"}
    if unknown:
        raise KustomizeError(f"configMapGenerator {generator['name']}: unsupported {unknown}")
    data: dict[str, str] = {}
    for entry in generator.get("files", []):
        key, _, source = entry.rpartition("=") if "=" in entry else (None, "", entry)
        file = (directory / source).resolve()
        if directory not in file.parents:
            raise KustomizeError(f"{entry}: kustomize loads no file outside {directory}")
        data[key or file.name] = file.read_text()
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    content = json.dumps({"name": generator["name"], "data": data}, sort_keys=True)
    suffix = hashlib.sha256(content.encode()).hexdigest()[:10]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{generator['name']}-{suffix}"},
        "data": data,
    }


def _apply_patch(objects: list[Obj], patch: Obj, *, where: str) -> None:
    for obj in objects:
        if obj["kind"] == patch["kind"] and obj["metadata"]["name"] == patch["metadata"]["name"]:
            merged = _merge(obj, patch)
            obj.clear()
            obj.update(merged)
            return
    raise KustomizeError(f"{where}: no {patch['kind']} {patch['metadata']['name']} to patch")


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = _merge(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        merged_list = copy.deepcopy(base)
        for item in patch:
            match = next((m for m in merged_list if m["name"] == item["name"]), None)
            if match is None:
                merged_list.append(copy.deepcopy(item))
            else:
                merged_list[merged_list.index(match)] = _merge(match, item)
        return merged_list
    return copy.deepcopy(patch)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(item, dict) and "name" in item for item in items)


def pod_spec(obj: Obj) -> Obj | None:
    """The pod spec of a workload (Deployment, Job, …), or None."""
    if obj["kind"] not in POD_TEMPLATE_KINDS:
        return None
    spec: Obj = obj["spec"]["template"]["spec"]
    return spec


def containers(obj: Obj) -> list[Obj]:
    spec = pod_spec(obj)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _rename_config_maps(obj: Obj, renames: dict[str, str]) -> None:
    spec = pod_spec(obj)
    if spec is None:
        return
    for volume in spec.get("volumes", []):
        if "configMap" in volume and volume["configMap"]["name"] in renames:
            volume["configMap"]["name"] = renames[volume["configMap"]["name"]]
    for container in containers(obj):
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef")
            if ref and ref["name"] in renames:
                ref["name"] = renames[ref["name"]]
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("configMapKeyRef")
            if ref and ref["name"] in renames:
                ref["name"] = renames[ref["name"]]


def _set_image(obj: Obj, image: Obj) -> None:
    for container in containers(obj):
        name, _, _tag = container["image"].partition(":")
        if name != image["name"]:
            continue
        new = image.get("newName", name)
        if "digest" in image:
            container["image"] = f"{new}@{image['digest']}"
        elif "newTag" in image:
            container["image"] = f"{new}:{image['newTag']}"
        else:
            container["image"] = f"{new}:{_tag}" if _tag else new


def _add_labels(obj: Obj, label_set: Obj) -> None:
    pairs = {str(k): str(v) for k, v in label_set["pairs"].items()}
    obj["metadata"].setdefault("labels", {}).update(pairs)
    selectors = label_set.get("includeSelectors", False)
    templates = label_set.get("includeTemplates", False) or selectors
    if obj["kind"] in POD_TEMPLATE_KINDS and templates:
        obj["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
    if selectors:
        if obj["kind"] in POD_TEMPLATE_KINDS - {"Job"}:
            obj["spec"]["selector"].setdefault("matchLabels", {}).update(pairs)
        elif obj["kind"] == "Service":
            obj["spec"].setdefault("selector", {}).update(pairs)
        elif obj["kind"] == "PodDisruptionBudget":
            obj["spec"]["selector"].setdefault("matchLabels", {}).update(pairs)


def _check_unique(objects: list[Obj]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if key in seen:
            raise KustomizeError(f"two objects are {key}")
        seen.add(key)
