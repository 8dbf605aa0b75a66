"""Cross-field rules are declared once: each rule's predicate, CEL, path and message come from one
declaration, and validation decides as the predicate says on a passing and a failing manifest.

The API server's side of the same examples (the CEL) is checked in
tests/integration/test_validate_agrees.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from datafoundry.api import DataFoundryJobSpec, FieldError
from datafoundry.api.crd import openapi_schema
from datafoundry.api.rules import rules_of
from datafoundry.api.validate import validate_manifest
from fixtures.rule_examples import EXAMPLES, Example, cases, declared_rules, manifest

RULES = declared_rules()


def test_every_declared_rule_has_a_passing_and_a_failing_example() -> None:
    assert len(RULES) >= 40
    named = [e.rule for e in EXAMPLES]
    assert sorted(named) == sorted(RULES), "one example per declared rule, named by its predicate"


@pytest.mark.parametrize(("example", "passes", "doc"), cases(),
                         ids=lambda v: v.rule if isinstance(v, Example) else ("" if isinstance(v, dict) else str(v)))
def test_validation_decides_as_the_rule_says(example: Example, passes: bool, doc: dict[str, Any]) -> None:
    rule = RULES[example.rule]
    job, errors = validate_manifest(doc)
    if passes:
        assert errors == [] and job is not None
    else:
        assert errors == [FieldError(example.path, rule.message)]


def test_each_rule_is_in_the_crd_on_its_node_with_its_message() -> None:
    spec = openapi_schema()["properties"]["spec"]
    assert spec["x-kubernetes-validations"] == [r.cel_rule().to_schema() for r in rules_of(DataFoundryJobSpec)
                                                if not r.on]
    filters = spec["properties"]["filters"]["x-kubernetes-validations"]
    assert filters == [r.cel_rule().to_schema() for r in rules_of(DataFoundryJobSpec) if r.on == "filters"]
    seeds = spec["properties"]["task"]["properties"]["seeds"]["x-kubernetes-validations"]
    assert seeds == [{"rule": "has(self.inline) != has(self.uri)", "reason": "FieldValueInvalid",
                      "message": "exactly one of inline or uri must be set"}]


def test_a_curation_judge_without_a_model_is_named_once_where_the_api_server_names_it() -> None:
    """With neither generator nor input the API server reports only that; the judge rules of a
    curation job (CEL: has(self.input)) stay silent offline too."""
    doc = {"apiVersion": "datafoundry.io/v1alpha1", "kind": "DataFoundryJob", "metadata": {"name": "x"},
           "spec": {"target": {"records": 1}, "output": {"uri": "file:///tmp/x"},
                    "filters": [{"type": "judge"}]}}
    _, errors = validate_manifest(doc)
    assert errors == [FieldError("spec", "exactly one of generator or input must be set")]


def test_a_value_rule_gives_the_crd_and_validation_one_message() -> None:
    uri = openapi_schema()["properties"]["spec"]["properties"]["output"]["properties"]["uri"]
    (cel,) = uri["x-kubernetes-validations"]
    _, errors = validate_manifest(manifest("dot-dot", {"output": {"uri": "file:///tmp/a/../b"}}))
    assert errors == [FieldError("spec.output.uri", f"Value error, {cel['message']}")]
