"""The generated CustomResourceDefinition: drift, structural schema, docs, bounds, CEL rules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from datafoundry.api import GROUP, KIND, PLURAL, SHORT_NAMES, VERSION
from datafoundry.api.crd import HEADER, build_crd, render_crd_yaml
from datafoundry.api.resource import IMMUTABLE_FIELDS
from datafoundry.api.spec import Budget, Engine, Sampling

REPO = Path(__file__).resolve().parents[3]
CRD_FILE = REPO / "crds" / "datafoundryjob.yaml"

Node = dict[str, Any]


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    return build_crd()


@pytest.fixture(scope="module")
def schema(crd: dict[str, Any]) -> Node:
    node: Node = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return node


def walk(node: Node, path: str = "") -> Iterator[tuple[str, Node]]:
    """Every schema node with its path (``.spec.generator``, ``.spec.filters[]``, ``.x{}``)."""
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def test_crd_file_matches_models() -> None:
    assert CRD_FILE.exists(), (
        "crds/datafoundryjob.yaml is missing: run `datafoundry crd --output crds/datafoundryjob.yaml`"
    )
    assert CRD_FILE.read_text(encoding="utf-8") == render_crd_yaml(), (
        "crds/datafoundryjob.yaml drifted from operator/datafoundry/api: "
        "run `datafoundry crd --output crds/datafoundryjob.yaml` (or `make crds`) and commit the result"
    )


def test_rendering_is_deterministic_and_has_header() -> None:
    text = render_crd_yaml()
    assert text == render_crd_yaml()
    assert text.startswith(HEADER)
    assert yaml.safe_load(text) == build_crd()


def test_identity(crd: dict[str, Any]) -> None:
    spec = crd["spec"]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{PLURAL}.{GROUP}"
    assert spec["group"] == GROUP
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == KIND
    assert spec["names"]["shortNames"] == list(SHORT_NAMES)
    assert spec["names"]["categories"] == ["datafoundry"]
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    assert version["subresources"] == {"status": {}}


def test_printer_columns(crd: dict[str, Any]) -> None:
    columns = {c["name"]: c for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert [n for n, c in columns.items() if not c.get("priority")] == [
        "Phase",
        "Progress",
        "Accepted",
        "Target",
        "Age",
    ]
    assert columns["Phase"]["jsonPath"] == ".status.phase"
    assert columns["Progress"]["jsonPath"] == ".status.progress.display"
    assert columns["Accepted"] == {**columns["Accepted"], "type": "integer", "jsonPath": ".status.progress.accepted"}
    assert columns["Target"]["jsonPath"] == ".spec.target.records"
    assert columns["Age"] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def resolve(schema: Node, json_path: str) -> Node | None:
    node: Node | None = schema
    for part in re.sub(r"\[[^\]]*\]", "", json_path).strip(".").split("."):
        if node is None:
            return None
        while "items" in node and "properties" not in node:
            node = node["items"]
        node = node.get("properties", {}).get(part)
    return node


def test_printer_column_paths_exist(crd: dict[str, Any], schema: Node) -> None:
    for column in crd["spec"]["versions"][0]["additionalPrinterColumns"]:
        if column["jsonPath"].startswith(".metadata"):
            continue
        assert resolve(schema, column["jsonPath"]) is not None, column


# --- structural schema ---------------------------------------------------------------------

FORBIDDEN_KEYS = {"$ref", "$defs", "definitions", "title", "discriminator", "const", "examples", "uniqueItems"}


def test_schema_is_structural(schema: Node) -> None:
    problems = []
    for path, node in walk(schema):
        preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
        if "type" not in node and not preserve and not node.get("x-kubernetes-int-or-string"):
            problems.append(f"{path}: no type")
        if FORBIDDEN_KEYS & node.keys():
            problems.append(f"{path}: forbidden keys {sorted(FORBIDDEN_KEYS & node.keys())}")
        for key in ("anyOf", "oneOf", "allOf", "not"):
            value = node.get(key)
            subs: list[Node] = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
            for sub in subs:
                if {"properties", "items", "additionalProperties", "type", "default", "description"} & sub.keys():
                    problems.append(f"{path}: {key} may only validate, not define structure")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: properties and additionalProperties are exclusive")
        if node.get("additionalProperties") is False or node.get("additionalProperties") is True:
            problems.append(f"{path}: boolean additionalProperties")
        if node.get("type") == "array" and "items" not in node:
            problems.append(f"{path}: array without items")
        if "default" in node and node.get("default") is None:
            problems.append(f"{path}: null default")
        if isinstance(node.get("exclusiveMinimum"), (int, float)) and not isinstance(node["exclusiveMinimum"], bool):
            problems.append(f"{path}: numeric exclusiveMinimum (OpenAPI v3.0 wants a boolean)")
        if node.get("nullable"):
            problems.append(f"{path}: nullable")
        for key in node.get("required", []):
            if key not in node.get("properties", {}):
                problems.append(f"{path}: required {key} is not a property")
    assert problems == []


def test_status_is_strict(schema: Node) -> None:
    status = schema["properties"]["status"]
    assert not status.get("x-kubernetes-preserve-unknown-fields")
    assert {
        "phase",
        "conditions",
        "progress",
        "shards",
        "startTime",
        "completionTime",
        "output",
        "observedGeneration",
    } <= set(status["properties"])
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    condition = conditions["items"]
    assert set(condition["required"]) == {"type", "status", "lastTransitionTime", "reason"}
    assert condition["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert condition["properties"]["lastTransitionTime"]["format"] == "date-time"


def test_root_requires_spec_and_metadata_is_only_name(schema: Node) -> None:
    assert schema["required"] == ["spec"]
    assert set(schema["properties"]["metadata"]["properties"]) == {"name"}


def test_every_property_is_documented(schema: Node) -> None:
    missing = [
        path
        for path, node in walk(schema)
        if path and not path.startswith(".metadata") and not path.endswith(("[]", "{}")) and not node.get("description")
    ]
    assert missing == []


def test_strings_lists_and_maps_are_bounded(schema: Node) -> None:
    """CEL cost estimation needs bounds; unbounded values are also an abuse vector."""
    unbounded = []
    for path, node in walk(schema["properties"]["spec"], ".spec"):
        kind = node.get("type")
        if node.get("x-kubernetes-preserve-unknown-fields"):
            continue
        if kind == "string" and "maxLength" not in node and "enum" not in node:
            unbounded.append(path)
        if kind == "array" and "maxItems" not in node:
            unbounded.append(path)
        if kind == "object" and "additionalProperties" in node and "maxProperties" not in node:
            unbounded.append(path)
    for path, node in walk(schema["properties"]["status"], ".status"):
        if node.get("type") == "array" and "maxItems" not in node:
            unbounded.append(path)
    assert unbounded == []


def test_defaults_match_models(schema: Node) -> None:
    spec = schema["properties"]["spec"]["properties"]
    gen = spec["generator"]["properties"]
    assert spec["budget"]["default"] == Budget().model_dump(mode="json", by_alias=True, exclude_none=True)
    assert gen["engine"]["default"] == Engine().model_dump(mode="json", by_alias=True, exclude_none=True)
    assert gen["sampling"]["default"] == Sampling().model_dump(mode="json", by_alias=True, exclude_none=True)
    assert gen["shards"]["default"] == 1
    assert spec["suspend"]["default"] is False
    assert spec["output"]["properties"]["format"]["default"] == "jsonl"


def test_exclusive_bounds_are_openapi_v3_0(schema: Node) -> None:
    ratio = schema["properties"]["spec"]["properties"]["mix"]["properties"]["replay"]["properties"]["ratio"]
    assert (ratio["maximum"], ratio["exclusiveMaximum"]) == (1.0, True)


# --- the filter union ----------------------------------------------------------------------


def test_filter_union_is_one_object(schema: Node) -> None:
    item = schema["properties"]["spec"]["properties"]["filters"]["items"]
    assert item["type"] == "object"
    assert item["required"] == ["type"]
    assert set(item["properties"]["type"]["enum"]) == {
        "schema",
        "length",
        "language",
        "quality",
        "pii",
        "exactDedup",
        "minhash",
        "decontamination",
        "judge",
    }
    for name, prop in item["properties"].items():
        assert "default" not in prop, f"{name}: a default in a union applies to every type"
    rules = {r["rule"]: r for r in item["x-kubernetes-validations"]}
    forbid = rules["!has(self.numPerm) || self.type in ['minhash']"]
    assert (forbid["fieldPath"], forbid["reason"]) == (".numPerm", "FieldValueForbidden")
    assert rules["!has(self.ngram) || self.type in ['minhash', 'decontamination']"]
    required = rules["self.type != 'decontamination' || has(self.evalSets)"]
    assert (required["fieldPath"], required["reason"]) == (".evalSets", "FieldValueRequired")
    guarded = [r for r in rules if r.startswith("self.type != 'minhash' || (")]
    assert guarded, "variant rules are guarded by the type"


# --- CEL rules -----------------------------------------------------------------------------

CEL_REASONS = {"FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"}


def all_rules(schema: Node) -> Iterator[tuple[str, Node, dict[str, str]]]:
    for path, node in walk(schema):
        for rule in node.get("x-kubernetes-validations", []):
            yield path, node, rule


def test_cel_rules_are_well_formed(schema: Node) -> None:
    rules = list(all_rules(schema))
    assert len(rules) > 40
    for path, node, rule in rules:
        assert set(rule) <= {"rule", "message", "fieldPath", "reason", "messageExpression", "optionalOldSelf"}, path
        assert rule["rule"].strip(), path
        assert rule["message"].strip(), path
        assert rule["reason"] in CEL_REASONS, path
        assert rule["rule"].count("(") == rule["rule"].count(")"), (path, rule["rule"])
        if "fieldPath" in rule:
            assert rule["fieldPath"].startswith("."), path
            assert resolve(node, rule["fieldPath"]) is not None, (path, rule["fieldPath"])
        for ref in re.findall(r"(?<![A-Za-z])self\.([A-Za-z]+)\b(?!\()", rule["rule"]):
            assert ref in node.get("properties", {}), (path, ref, rule["rule"])


def test_cel_iterated_collections_are_bounded(schema: Node) -> None:
    for path, node, rule in all_rules(schema):
        text = rule["rule"]
        iterates = re.search(r"\.(all|exists|exists_one|map|filter)\(", text)
        if not iterates:
            continue
        if text.startswith("self.all") or text.startswith("self.exists"):
            assert "maxItems" in node, path
        for field in re.findall(r"self\.([A-Za-z]+)\.(?:all|exists|exists_one)\(", text):
            bounds = node["properties"][field]
            assert "maxItems" in bounds or "maxProperties" in bounds, (path, field)  # a list or a map
        for field in re.findall(r"self\.generator\.([A-Za-z]+)\.(?:all|exists|exists_one)\(", text):
            assert "maxItems" in node["properties"]["generator"]["properties"][field], (path, field)


def test_root_immutability_rules(schema: Node) -> None:
    rules = {r["fieldPath"]: r for r in schema["x-kubernetes-validations"]}
    for field in IMMUTABLE_FIELDS:
        rule = rules[f".spec.{field}"]
        assert "oldSelf.status.startTime" in rule["rule"]
        assert f"self.spec.{field} == oldSelf.spec.{field}" in rule["rule"]
        assert rule["reason"] == "FieldValueForbidden"
    for mutable in (".spec.suspend", ".spec.activeDeadlineSeconds", ".spec.ttlSecondsAfterFinished"):
        assert mutable not in rules
    assert ">=" in rules[".spec.budget.maxRounds"]["rule"]


def test_every_spec_field_is_classified() -> None:
    from datafoundry.api.resource import GROW_ONLY_FIELDS, MUTABLE_FIELDS
    from datafoundry.api.spec import DataFoundryJobSpec

    fields = {f.alias or name for name, f in DataFoundryJobSpec.model_fields.items()}
    classified = set(IMMUTABLE_FIELDS) | set(MUTABLE_FIELDS) | set(GROW_ONLY_FIELDS)
    assert fields == classified, "decide whether a new spec field is immutable once started"
