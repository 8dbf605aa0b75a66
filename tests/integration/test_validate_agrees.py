"""`datafoundry validate` and the real API server give the same verdict on the same manifests.

A property test (hypothesis): valid manifests (the valid fixtures and the examples) are mutated the
way people get manifests wrong, guided by the CRD's schema: a value of another JSON type, a number
written as a string (and back), control characters in strings, numbers just outside their bounds,
unknown fields, removed fields, nulls, and edits that stay valid. The same YAML text goes to
`datafoundry validate`'s logic and to `kubectl apply --dry-run=server` (client-side apply with
strict field validation, as people run it). Both must accept, or both refuse naming the same field
paths (offline may name the item of a list where a CEL rule can only name the list).

Every field path validate names must be among the server's; the server may name more, as it runs
an object's CEL rules even when one of its fields is already wrong (see `disagreement`).

Server round trips are bounded: batches of manifests in one kubectl call each, 150 manifests in all.
Also here: each declared cross-field rule's CEL on its passing and failing example (the predicate's
side is in tests/unit/api/test_rules.py), the 256 KiB last-applied-configuration limit, and the
rules that were tautologies.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from datafoundry.api.validate import ANNOTATIONS_LIMIT, last_applied_size, size_warning, validate_manifest
from datafoundry.testing.testbed import REPO, Kube
from fixtures.rule_examples import cases

pytestmark = pytest.mark.integration

BASES: list[dict[str, Any]] = [
    yaml.safe_load(p.read_text())
    for p in sorted((REPO / "tests" / "fixtures" / "manifests" / "valid").glob("*.yaml"))
    + sorted((REPO / "examples").glob("*.yaml"))
]
BATCH = 10
BATCHES = 15  # 150 manifests
CONTROL = ["\x00", "\t", "\n", "\r", "\x0b", "\x1b", "\x7f", "\x85"]

Path_ = tuple[str | int, ...]


def spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load((REPO / "crds" / "datafoundryjob.yaml").read_text())
    node: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return node


SCHEMA = spec_schema()


def positions(value: Any, schema: dict[str, Any], path: Path_) -> Iterator[tuple[Path_, Any, dict[str, Any]]]:
    """(path, value, schema) of every value in a manifest's spec that the schema describes."""
    yield path, value, schema
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key) if props else (extra if isinstance(extra, dict) else None)
            if sub is not None:
                yield from positions(item, sub, (*path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from positions(item, schema["items"], (*path, i))


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class Case:
    doc: dict[str, Any]
    what: str


def other_types(kind: str | None) -> list[Any]:
    values: dict[str, Any] = {"string": "seven", "integer": 7, "number": 7.5, "boolean": True,
                              "object": {"a": "b"}, "array": ["x"]}
    return [v for k, v in values.items() if k != kind]


def actions_for(schema: dict[str, Any]) -> list[str]:
    """The mutations that make sense for a value with this schema."""
    kind = schema.get("type")
    free_form = kind == "object" and not schema.get("properties") and schema.get("x-kubernetes-preserve-unknown-fields")
    actions = ["type", "null"]
    if kind in ("integer", "number"):
        actions += ["as-string", "out-of-range", "valid-number"]
    if kind == "integer":
        actions += ["integral-float", "fraction"]
    if kind == "string" and "enum" not in schema:
        actions += ["control", "as-number", "valid-text"]
    if kind == "boolean":
        actions += ["bool-word", "bool-number"]
    if kind == "object" and not free_form:
        actions += ["unknown-field", "remove"]
    return actions


#: Each kind of mutation about as often as the others (then a value it applies to).
ACTIONS = ["remove", "as-string", "out-of-range", "valid-number", "integral-float", "fraction", "control",
           "unknown-field", "as-number", "valid-text", "bool-word", "bool-number", "null", "type"]


@st.composite
def mutated(draw: st.DrawFn) -> Case:
    base = draw(st.sampled_from(BASES))
    doc = copy.deepcopy(base)
    doc["metadata"] = {"name": "x"}
    where = [p for p in positions(doc["spec"], SCHEMA, ("spec",)) if len(p[0]) > 1]
    action = draw(st.sampled_from(ACTIONS))
    fitting = [p for p in where if action in actions_for(p[2])]
    if fitting:
        path, value, schema = draw(st.sampled_from(fitting))
    else:  # nothing of that kind in this manifest: another mutation of a value it has
        path, value, schema = draw(st.sampled_from(where))
        action = draw(st.sampled_from(actions_for(schema)))
    kind = schema.get("type")
    parent: Any = doc
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    if action == "type":
        new: Any = draw(st.sampled_from(other_types(kind)))
    elif action == "null":
        new = None
    elif action == "as-string":
        new = str(value)
    elif action == "out-of-range":
        low, high = schema.get("minimum"), schema.get("maximum")
        options = []
        if low is not None:
            options.append(low if schema.get("exclusiveMinimum") else low - (1 if kind == "integer" else 0.5))
        if high is not None:
            options.append(high if schema.get("exclusiveMaximum") else high + (1 if kind == "integer" else 0.5))
        options.append(2**53)
        new = draw(st.sampled_from(options))
    elif action == "valid-number":
        low = schema.get("minimum", 0)
        high = schema.get("maximum", low + 100)
        new = draw(st.integers(int(low) + 1, max(int(low) + 1, int(high) - 1)))
        if kind == "number":
            new = draw(st.sampled_from([new, float(new), new + 0.25 if new + 0.25 < high else new]))
    elif action == "integral-float":
        new = float(value)
    elif action == "fraction":
        new = value + 0.5
    elif action == "control":
        text = str(value)
        at = draw(st.integers(0, len(text)))
        new = text[:at] + draw(st.sampled_from(CONTROL)) + text[at:]
    elif action == "as-number":
        new = draw(st.sampled_from([5, 2.5]))
    elif action == "valid-text":
        new = str(value) + draw(st.sampled_from([" x", "é", "-1", "/more"]))
    elif action == "bool-word":
        new = draw(st.sampled_from(["yes", "true", "on", "False"]))
    elif action == "bool-number":
        new = draw(st.sampled_from([0, 1]))
    elif action == "unknown-field":
        value["bogusField"] = draw(st.sampled_from([1, "x", True]))
        new = value
    else:  # remove
        keys = list(value)
        if not keys:
            new = value
        else:
            value.pop(draw(st.sampled_from(keys)))
            new = value
    parent[key] = new
    shown = json.dumps(new, ensure_ascii=True)
    return Case(doc, f"{action} at {dotted(path)} -> {shown[:80]}")


# ------------------------------------------------------------------------------------- the server
ERROR_PATH = re.compile(
    r"(?<![\w.\]])(spec(?:\.[A-Za-z0-9_][A-Za-z0-9_./-]*|\[[^\]]+\])*): "
    r"(?:Invalid value|Required value|Unsupported value|Duplicate value|Too long|Too many|Too short|Forbidden)")
UNKNOWN = re.compile(r'unknown field "(spec[^"]*)"')


def normalise(path: str) -> str:
    """`spec.generator.nodeSelector[pool]` (a map key, as the API server writes it) -> `...nodeSelector.pool`."""
    return re.sub(r"\[([^\]]*[^\d\]][^\]]*)\]", r".\1", path)


def server_paths(message: str) -> set[str]:
    return {normalise(m) for m in ERROR_PATH.findall(message)} | set(UNKNOWN.findall(message))


def apply_batch(kube: Kube, namespace: str, texts: list[str]) -> list[set[str] | None]:
    """`kubectl apply --dry-run=server` of the YAML documents in one call: None (accepted) or the
    field paths of the errors, per document."""
    names = [yaml.safe_load(t)["metadata"]["name"] for t in texts]
    proc = kube.kubectl("apply", "--dry-run=server", "-n", namespace, "-o", "name", "-f", "-",
                        input="\n---\n".join(texts), check=False)
    accepted = set(re.findall(r"datafoundryjob\.datafoundry\.io/(\S+)", proc.stdout))
    failed = [n for n in names if n not in accepted]
    stderr = "\n".join(line for line in proc.stderr.splitlines() if not line.startswith("Warning:"))
    # One error per refused object, in the order kubectl applied them (the documents' order).
    errors = [e for e in re.split(r"\n(?=Error from server|error: |The DataFoundryJob )", stderr.strip()) if e]
    assert len(errors) == len(failed), f"{len(failed)} refused, {len(errors)} errors:\n{proc.stderr}"
    by_name: dict[str, set[str]] = {}
    for name, error in zip(failed, errors, strict=True):
        named = re.search(r'DataFoundryJob(?:\.datafoundry\.io)? "([^"]+)"', error)
        assert named is None or named.group(1) == name, f"error out of order for {name}:\n{proc.stderr}"
        paths = server_paths(error)
        assert paths, f"{name}: no field path in the API server's error:\n{error}"
        by_name[name] = paths
    return [by_name.get(n) for n in names]


def offline_paths(text: str) -> set[str] | None:
    job, errors = validate_manifest(yaml.safe_load(text))
    if job is not None:
        return None
    return {e.path for e in errors}


def same_field(offline: str, server: str) -> bool:
    """The same field, or one inside the other: a CEL rule names a static path (`spec.filters`) where
    offline names the item (`spec.filters[1].engine`); an object given for a list is an unknown field
    inside it to the API server (`spec.filters.a`) and a wrong type to validate (`spec.filters`)."""
    def within(inner: str, outer: str) -> bool:
        return inner.startswith((outer + ".", outer + "["))

    return offline == server or within(offline, server) or within(server, offline)


def disagreement(offline: set[str] | None, server: set[str] | None) -> str | None:
    if (offline is None) != (server is None):
        return "accepted offline, refused by the API server" if offline is None else \
            "refused offline, accepted by the API server"
    if offline is None or server is None:
        return None
    # Every field validate names, the API server names too. The server may name more: it runs an
    # object's CEL rules even when one of its fields broke a pattern or a bound, where validate
    # reports the field first and the rules once the fields are right (as the server does after
    # a type error: "some validation rules were not checked").
    unmatched_offline = [o for o in offline if not any(same_field(o, s) for s in server)]
    if unmatched_offline:
        return f"field paths differ: offline {sorted(offline)}, API server {sorted(server)}"
    return None


_batch_counter = iter(range(10**6))


@settings(max_examples=BATCHES, derandomize=True, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(st.lists(mutated(), min_size=BATCH, max_size=BATCH))
def test_validate_and_the_api_server_agree_on_mutated_manifests(
        kube: Kube, crd: None, agree_namespace: str, cases: list[Case]) -> None:
    batch = next(_batch_counter)
    docs = []
    for i, case in enumerate(cases):
        case.doc["metadata"] = {"name": f"agree-{batch}-{i}"}
        docs.append(case.doc)
    # The same text for both: what a person would have in the file.
    texts = [yaml.safe_dump(d, allow_unicode=True, sort_keys=False) for d in docs]
    server = apply_batch(kube, agree_namespace, texts)
    problems = []
    for case, text, verdict in zip(cases, texts, server, strict=True):
        offline = offline_paths(text)
        why = disagreement(offline, verdict)
        if why:
            problems.append(f"{case.what}: {why}")
        RESULTS.append((case.what, offline is None))
    assert not problems, "\n".join(problems)
    if batch == BATCHES - 1:
        # The cases were not all one kind: both verdicts, every kind of mutation.
        accepted = sum(ok for _, ok in RESULTS)
        assert 5 <= accepted <= len(RESULTS) - 50, accepted
        kinds = Counter(what.split(" at ")[0] for what, _ in RESULTS)
        assert {"type", "null", "as-string", "out-of-range", "control", "unknown-field", "remove"} <= set(kinds), kinds
        print(f"\nvalidate and the API server agreed on {len(RESULTS)} manifests ({accepted} accepted): "
              + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))


RESULTS: list[tuple[str, bool]] = []


@pytest.fixture(scope="module")
def agree_namespace(kube: Kube) -> Iterator[str]:
    from datafoundry.testing.testbed import fresh_namespace

    with fresh_namespace(kube) as name:
        yield name


# ------------------------------------------------------------------------------ fixed cases, by name
def minimal() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "tests" / "fixtures" / "manifests" / "valid" / "minimal.yaml")
                                         .read_text())
    return doc


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (lambda d: d["spec"]["generator"].__setitem__("shards", "2"), "spec.generator.shards"),
        (lambda d: d["spec"].__setitem__("suspend", "yes"), "spec.suspend"),
        (lambda d: d["spec"]["output"].__setitem__("uri", "s3://bucket/a\x00b"), "spec.output.uri"),
        (lambda d: d["spec"]["task"]["seeds"]["inline"].append({"q\u0085": "\x00"}), None),
    ],
    ids=["shards-string", "suspend-yes", "nul-in-s3-uri", "c1-in-free-form-key"],
)
def test_the_issues_cases_agree(kube: Kube, crd: None, agree_namespace: str, edit: Any, path: str | None) -> None:
    doc = minimal()
    edit(doc)
    doc["metadata"] = {"name": "issue-case"}
    text = yaml.safe_dump(doc, allow_unicode=True)
    (server,) = apply_batch(kube, agree_namespace, [text])
    offline = offline_paths(text)
    assert disagreement(offline, server) is None, (offline, server)
    if path is None:
        assert offline is None  # free-form content is kept as-is by both
    else:
        assert offline == {path}


def test_a_filter_without_type_is_refused_by_both(kube: Kube, crd: None, agree_namespace: str) -> None:
    """The union's former `self.type != 'x' || has(self.type)` rules could never fail; `type` is
    required by the merged schema, so a filter without one is still refused, naming it."""
    doc = minimal()
    doc["spec"]["filters"] = [{"minChars": 5}]
    doc["metadata"] = {"name": "no-type"}
    (server,) = apply_batch(kube, agree_namespace, [yaml.safe_dump(doc)])
    assert server is not None and "spec.filters[0].type" in server
    assert offline_paths(yaml.safe_dump(doc)) == {"spec.filters[0].type"}


def test_a_variant_field_required_by_a_union_rule_is_refused(kube: Kube, crd: None, agree_namespace: str) -> None:
    doc = minimal()
    doc["spec"]["filters"] = [{"type": "decontamination"}]
    doc["metadata"] = {"name": "no-evalsets"}
    (server,) = apply_batch(kube, agree_namespace, [yaml.safe_dump(doc)])
    assert server == {"spec.filters[0].evalSets"}
    assert offline_paths(yaml.safe_dump(doc)) == {"spec.filters[0].evalSets"}


def test_every_rules_cel_decides_as_its_predicate(kube: Kube, crd: None, agree_namespace: str) -> None:
    """The API server accepts each declared rule's passing manifest and refuses its failing one,
    naming only the rule's field (or the list holding it), as validation does."""
    examples = cases()
    texts = [yaml.safe_dump(doc, allow_unicode=True, sort_keys=False) for _, _, doc in examples]
    problems = []
    for (example, passes, _), server in zip(examples, apply_batch(kube, agree_namespace, texts), strict=True):
        if passes and server is not None:
            problems.append(f"{example.rule}: the passing manifest was refused naming {sorted(server)}")
        elif not passes and (server is None or not all(same_field(example.path, s) for s in server)):
            problems.append(f"{example.rule}: the failing manifest was "
                            + ("accepted" if server is None else f"refused naming {sorted(server)}"))
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ the last-applied-configuration limit
def with_seeds(count: int, chars: int) -> dict[str, Any]:
    doc = minimal()
    doc["spec"]["task"]["seeds"]["inline"] = [
        {"instruction": f"Question {i}: " + "x" * chars, "response": "y" * chars} for i in range(count)]
    return doc


def test_the_size_warning_matches_what_client_side_apply_can_store(kube: Kube, crd: None, agree_namespace: str,
                                                                  tmp_path: Path) -> None:
    # 200 inline seeds, 550 KB: refused by client-side apply, stored by server-side apply.
    big = with_seeds(200, 1370)
    big["metadata"] = {"name": "big"}
    f = tmp_path / "big.yaml"
    f.write_text(yaml.safe_dump(big))
    assert 540_000 < f.stat().st_size < 600_000
    assert size_warning(big) is not None
    proc = kube.kubectl("apply", "--dry-run=server", "-n", agree_namespace, "-f", str(f), check=False)
    assert proc.returncode != 0 and "metadata.annotations: Too long" in proc.stderr, proc.stderr
    kube.kubectl("apply", "--server-side", "--dry-run=server", "-n", agree_namespace, "-f", str(f))
    # Around the limit: the warning says exactly when client-side apply fails.
    # kubectl adds metadata.namespace (and a newline) to what it stores: a few dozen bytes.
    for margin in (-300, 300):
        doc = with_seeds(1, 0)
        doc["metadata"] = {"name": f"edge-{'under' if margin < 0 else 'over'}"}
        doc["spec"]["task"]["seeds"]["inline"][0]["response"] = "y" * (ANNOTATIONS_LIMIT + margin
                                                                       - last_applied_size(doc))
        assert last_applied_size(doc) == ANNOTATIONS_LIMIT + margin
        proc = kube.kubectl("apply", "--dry-run=server", "-n", agree_namespace, "-f", "-",
                            input=yaml.safe_dump(doc), check=False)
        refused = proc.returncode != 0
        assert refused == (size_warning(doc) is not None), (margin, proc.stderr[-500:])
        if refused:
            assert "metadata.annotations: Too long" in proc.stderr
