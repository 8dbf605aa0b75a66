"""`datafoundry validate` is as strict as the API server: the structural schema's types (no
coercion), no control characters in URIs and names, nulls pruned, set lists without duplicates,
free-form objects within their key bound, typed strategy options, and a warning for manifests that client-side
`kubectl apply` cannot store. (`tests/integration/test_validate_agrees.py` checks the same
mutations against the real API server.)"""

from __future__ import annotations

import copy
import enum
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from datafoundry.api import validate_manifest
from datafoundry.api._base import APIEnum, SpecModel
from datafoundry.api.crd import build_crd
from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.api.types import DATA_URI, HTTP_URL, MODEL_REF, NO_CONTROL
from datafoundry.api.validate import ANNOTATIONS_LIMIT, last_applied_size, size_warning
from datafoundry.cli import main

REPO = Path(__file__).resolve().parents[3]
VALID = REPO / "tests" / "fixtures" / "manifests" / "valid"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((VALID / name).read_text())
    return doc


def paths(doc: dict[str, Any]) -> list[str]:
    job, errors = validate_manifest(doc)
    assert job is None or not errors
    return [e.path for e in errors]


def with_value(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with ``spec.a.b[0].c`` set to ``value``."""
    out = copy.deepcopy(doc)
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    node: Any = out
    for part in parts[:-1]:
        node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
    node[parts[-1]] = value
    return out


# ------------------------------------------------------------------------------------ strict types
@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.generator.shards", "2"),  # the API server: must be of type integer
        ("spec.suspend", "yes"),  # must be of type boolean
        ("spec.suspend", "true"),
        ("spec.suspend", 1),
        ("spec.seed", True),  # a boolean is not an integer
        ("spec.seed", 2.5),
        ("spec.target.records", "10"),
        ("spec.target.overgenerate", "1.5"),  # a string is not a number
        ("spec.target.overgenerate", False),
        ("spec.generator.sampling.temperature", "0.5"),
        ("spec.generator.model", 5),  # an integer is not a string
        ("spec.task.domain", 3.5),
        ("spec.task.type", 1),  # nor a value of an enum
        ("spec.generator.screens.enabled", "false"),
    ],
)
def test_no_coercion_between_json_types(path: str, value: Any) -> None:
    assert paths(with_value(load("full.yaml"), path, value)) == [path]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.target.overgenerate", 2),  # an integer is a number (the API server accepts it too)
        ("spec.generator.sampling.temperature", 1),
        ("spec.generator.gpuMemoryUtilization", 1),
        ("spec.task.type", "instruction"),  # enums take their value strings
        ("spec.generator.shards", 2.0),  # a JSON number without a fraction is an integer
        ("spec.target.records", 10.0),
    ],
)
def test_what_the_api_server_accepts_stays_valid(path: str, value: Any) -> None:
    assert paths(with_value(load("full.yaml"), path, value)) == []


def test_every_model_of_the_spec_is_strict_and_every_enum_takes_its_values() -> None:
    """A spec model added as a plain APIModel would coerce "2" to 2 again; an enum that is a plain
    StrEnum would refuse its own values in strict mode."""
    seen: set[Any] = set()

    def visit(tp: Any, where: str) -> None:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            visit(typing.get_args(tp)[0], where)
            return
        if origin in (typing.Union, types.UnionType, list, dict, tuple, typing.Literal):
            if origin is not typing.Literal:
                for arg in typing.get_args(tp):
                    visit(arg, where)
            return
        if tp in seen:
            return
        seen.add(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            assert issubclass(tp, SpecModel) and tp.model_config.get("strict") is True, (
                f"{where}: {tp.__name__} must derive from SpecModel (strict types, as the API server)")
            for name, info in tp.model_fields.items():
                visit(info.annotation, f"{where}.{info.alias or name}")
        elif isinstance(tp, type) and issubclass(tp, enum.Enum):
            assert issubclass(tp, APIEnum), f"{where}: {tp.__name__} must derive from APIEnum"

    visit(DataFoundryJobSpec, "spec")
    assert len(seen) > 30


# ------------------------------------------------------------------------------ control characters
CONTROL = ["\x00", "\t", "\n", "\r", "\x0b", "\x1b", "\x7f", "\x85", "\x9b"]


@pytest.mark.parametrize("char", CONTROL, ids=[f"U+{ord(c):04X}" for c in CONTROL])
@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.output.uri", "s3://bucket/out/{}x"),
        ("spec.task.seeds.uri", "s3://bucket/seeds{}.jsonl"),
        ("spec.generator.model", "s3://bucket/models/{}m"),
        ("spec.output.endpointURL", "http://s3.example.com/{}"),
    ],
)
def test_control_characters_are_refused_in_uris(path: str, value: str, char: str) -> None:
    doc = with_value(load("full.yaml"), path, value.format(char))
    if path == "spec.task.seeds.uri":
        doc["spec"]["task"]["seeds"].pop("inline", None)
    assert paths(doc) == [path]


@pytest.mark.parametrize("char", CONTROL, ids=[f"U+{ord(c):04X}" for c in CONTROL])
@pytest.mark.parametrize(
    "path",
    [
        "spec.task.labels[0].name",
        "spec.task.taxonomy[0].name",
        "spec.task.taxonomy[0].subtopics[0]",
        "spec.task.documents.textField",
        "spec.generator.engine.modelName",
    ],
)
def test_control_characters_are_refused_in_names(path: str, char: str) -> None:
    doc = load("full.yaml")
    if path.startswith("spec.task.labels"):
        doc = load("full.yaml")
        doc["spec"]["task"]["type"] = "classification"
        doc["spec"]["task"]["labels"] = [{"name": "a"}, {"name": "b"}]
    if path == "spec.generator.engine.modelName":
        doc["spec"]["generator"]["engine"] = {"type": "openai", "endpoint": "http://vllm:8000/v1"}
    assert paths(with_value(doc, path, f"name{char}x")) == [path]


def test_spaces_and_unicode_stay_allowed_in_names_and_uri_paths() -> None:
    doc = load("full.yaml")
    doc["spec"]["task"]["taxonomy"][0]["name"] = "Pod networking / 네트워크"
    doc["spec"]["output"]["uri"] = "s3://bucket/데이터/été"
    assert paths(doc) == []


def test_uri_and_name_patterns_spell_out_their_characters() -> None:
    """`\\s`/`\\S` mean different things to Go (the API server), Rust (pydantic) and Python; the
    CRD's patterns must not depend on them, and its rules neither."""
    text = json.dumps(build_crd())
    assert "\\\\s" not in text and "\\\\S" not in text
    for pattern in (DATA_URI, MODEL_REF, HTTP_URL):
        for char in [*CONTROL, " "]:
            assert not re.fullmatch(pattern, f"s3://bucket/a{char}b"), (pattern, char)
    assert not re.fullmatch(NO_CONTROL, "a\nb") and re.fullmatch(NO_CONTROL, "a b")


def test_label_keys_with_a_trailing_newline_are_refused() -> None:
    # Python's `$` matches before a final newline; Go's (CEL `matches`) does not.
    doc = with_value(load("full.yaml"), "spec.generator.nodeSelector", {"pool\n": "gpu"})
    assert paths(doc) == ["spec.generator.nodeSelector"]
    doc = with_value(load("full.yaml"), "spec.generator.resources", {"requests": {"cpu": "2\n"}})
    assert paths(doc) == ["spec.generator.resources.requests.cpu"]


# ---------------------------------------------------------------------- the API server's other rules
def test_null_is_not_set_as_on_the_api_server() -> None:
    # The API server prunes a null field (not nullable) before defaulting.
    doc = with_value(load("minimal.yaml"), "spec.generator.shards", None)
    job, errors = validate_manifest(doc)
    assert errors == [] and job is not None and job.spec.generator is not None
    assert job.spec.generator.shards == 1
    assert paths(with_value(load("minimal.yaml"), "spec.target", None)) == ["spec.target"]
    # Inside a list a null stays a null, and is refused.
    assert paths(with_value(load("full.yaml"), "spec.filters[0]", None)) == ["spec.filters[0]"]


def test_set_lists_refuse_duplicates_at_the_item() -> None:
    doc = load("full.yaml")
    index = next(i for i, f in enumerate(doc["spec"]["filters"]) if f["type"] == "language")
    doc["spec"]["filters"][index]["languages"] = ["en", "de", "en"]
    assert paths(doc) == [f"spec.filters[{index}].languages[2]"]


def test_free_form_objects_are_bounded_as_in_the_crd() -> None:
    doc = load("minimal.yaml")
    doc["spec"]["task"]["seeds"]["inline"][0] = {f"k{i}": "v" for i in range(65)}
    assert paths(doc) == ["spec.task.seeds.inline[0]"]


def test_strategy_options_are_typed_an_unknown_key_is_named() -> None:
    doc = load("full.yaml")
    doc["spec"]["generator"]["strategies"][0]["options"]["questionsPerChunk"] = 4
    assert paths(doc) == ["spec.generator.strategies[0].options.questionsPerChunk"]
    doc = load("full.yaml")
    doc["spec"]["generator"]["strategies"][0]["options"]["maxChars"] = "40"  # a string is not an integer
    assert paths(doc) == ["spec.generator.strategies[0].options.maxChars"]


# --------------------------------------------------------------------- the last-applied size limit
def big_manifest(seeds: int, chars: int = 2700) -> dict[str, Any]:
    doc = load("minimal.yaml")
    doc["spec"]["task"]["seeds"]["inline"] = [
        {"instruction": f"Question {i}: " + "how do I restart a router? " * (chars // 54),
         "response": "Unplug it for ten seconds. " * (chars // 54)} for i in range(seeds)]
    doc["spec"]["generator"]["strategies"] = [{"name": "selfInstruct"}]
    return doc


@pytest.mark.slow  # validates a manifest of over 500 KB
def test_a_manifest_over_256_kib_validates_with_a_warning(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = big_manifest(200)
    f = tmp_path / "big.yaml"
    f.write_text(yaml.safe_dump(doc, allow_unicode=True))
    assert f.stat().st_size > 500_000
    rc = main(["validate", str(f)])
    out = capsys.readouterr().out
    assert rc == 0, out
    lines = out.splitlines()
    assert lines[-1] == f"{f}: valid"
    (warning,) = [line for line in lines if "warning" in line]
    size_kib = round(last_applied_size(doc) / 1024)
    assert warning.startswith(f"{f}:doc 1: warning: the manifest is {size_kib} KiB as JSON")
    assert "256 KiB" in warning and "task.seeds.uri" in warning and "kubectl apply --server-side" in warning


def test_no_warning_under_the_limit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = big_manifest(80)
    assert 150 * 1024 < last_applied_size(doc) < ANNOTATIONS_LIMIT
    assert size_warning(doc) is None
    f = tmp_path / "ok.yaml"
    f.write_text(yaml.safe_dump(doc))
    assert main(["validate", str(f)]) == 0
    assert capsys.readouterr().out == f"{f}: valid\n"


def test_last_applied_size_counts_as_go_encodes() -> None:
    doc = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "a", "annotations": {"k": "vv"}}, "spec": "<é>"}
    compact = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    # `<` and `>` become \u003c and \u003e (6 bytes each); the annotation key; the other annotation.
    assert last_applied_size(doc) == len(compact) + 2 * 5 + len("kubectl.kubernetes.io/last-applied-configuration") + 3
