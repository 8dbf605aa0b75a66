"""The field audit: no field in `kubectl explain dfj` is accepted and ignored.

Every field path of the CRD's spec (crds/datafoundryjob.yaml) must have an entry in
tests/unit/field_audit.yaml naming the tests that prove it works. A new field without an entry, an
entry for a field that is gone, a test that does not exist, and an entry still marked `todo` or
`missing` each fail here, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "datafoundryjob.yaml"
AUDIT = Path(__file__).with_name("field_audit.yaml")


def field_paths(schema: dict[str, Any], path: str = "spec") -> Iterator[str]:
    """`spec.a`, `spec.a.b`, `spec.list[].c`, `spec.map{}.d`: every property of the spec's schema."""
    for name, sub in (schema.get("properties") or {}).items():
        yield f"{path}.{name}"
        yield from field_paths(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from field_paths(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from field_paths(schema["additionalProperties"], f"{path}{{}}")


def crd_fields() -> list[str]:
    crd = yaml.safe_load(CRD.read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return list(field_paths(spec))


def audit() -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = yaml.safe_load(AUDIT.read_text())
    return table


def node_exists(node_id: str) -> str | None:
    """None when the test exists, else why not. `path::[Class::]function[param-id]`."""
    parts = node_id.split("::")
    if len(parts) not in (2, 3):
        return "not a node id (path::function or path::Class::function)"
    file = REPO / parts[0]
    if not file.is_file() or not file.name.startswith("test_"):
        return f"no test file {parts[0]}"
    text = file.read_text(encoding="utf-8")
    function = parts[-1].split("[", 1)[0]
    if len(parts) == 3 and not re.search(rf"^class {re.escape(parts[1])}\b", text, re.M):
        return f"no class {parts[1]} in {parts[0]}"
    if not re.search(rf"^\s*(async\s+)?def {re.escape(function)}\(", text, re.M):
        return f"no function {function} in {parts[0]}"
    return None


def test_every_field_of_the_crd_has_an_entry_and_every_entry_is_a_field() -> None:
    fields, table = crd_fields(), audit()
    assert len(fields) > 150
    new = [f for f in fields if f not in table]
    gone = [f for f in table if f not in fields]
    assert not new, ("fields without an entry in tests/unit/field_audit.yaml (name the tests that prove each works):\n"
                     + "\n".join(new))
    assert not gone, "entries in tests/unit/field_audit.yaml for fields the CRD no longer has:\n" + "\n".join(gone)


def test_every_entry_is_well_formed_and_names_tests_that_exist() -> None:
    problems = []
    for field, entry in audit().items():
        if not isinstance(entry, dict) or not entry.keys() <= {"tests", "note", "todo", "missing"}:
            problems.append(f"{field}: an entry has tests, note, todo or missing, got {entry!r}")
            continue
        tests = entry.get("tests") or []
        if not tests and not (entry.get("todo") or entry.get("missing")):
            problems.append(f"{field}: no tests, and no todo or missing saying why")
        for node_id in tests:
            why = node_exists(node_id)
            if why:
                problems.append(f"{field}: {node_id}: {why}")
    assert not problems, "\n".join(problems)


def test_no_field_is_left_without_a_test() -> None:
    """The issue's "Done when": every field works as `kubectl explain` says, with a test."""
    todo = [f"{field}: TODO: {entry['todo']}" for field, entry in audit().items() if entry.get("todo")]
    missing = [f"{field}: NO TEST: {entry['missing']}" for field, entry in audit().items() if entry.get("missing")]
    assert not todo and not missing, (
        f"{len(todo)} field(s) whose tests are still to be listed and {len(missing)} without a test that proves "
        "they work (tests/unit/field_audit.yaml):\n" + "\n".join(todo + missing))


def test_the_audit_catches_what_it_should(tmp_path: Path) -> None:
    assert node_exists("tests/unit/test_field_audit.py::test_the_audit_catches_what_it_should") is None
    assert node_exists("tests/unit/test_field_audit.py::test_the_audit_catches_what_it_should[x-1]") is None
    assert node_exists("tests/unit/test_field_audit.py::test_no_such_test") is not None
    assert node_exists("tests/unit/no_such_file.py::test_x") is not None
    assert node_exists("tests/unit/test_field_audit.py::NoClass::test_no_field_is_left_without_a_test") is not None
    schema = {"properties": {"a": {"type": "array", "items": {"properties": {"b": {"type": "string"}}}},
                             "m": {"type": "object", "additionalProperties": {"properties": {"c": {}}}}}}
    assert list(field_paths(schema)) == ["spec.a", "spec.a[].b", "spec.m", "spec.m{}.c"]
