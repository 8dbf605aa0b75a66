"""No generated CEL rule is a tautology: every `x-kubernetes-validations` rule of the CRD can fail.

The filter union once produced `self.type != 'schema' || has(self.type)` for each of its nine
variants: `type` is required by the merged schema, so `has(self.type)` is always true and the rule
never refuses anything. The check below finds any rule with a top-level `||` alternative that is
always true on that node: `has()` of a required field (or of a field with a default), or `true`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from datafoundry.api.crd import build_crd

Node = dict[str, Any]


def rule_nodes(node: Node, path: str = "") -> Iterator[tuple[str, Node, dict[str, str]]]:
    """(schema path, schema node, rule) for every x-kubernetes-validations rule."""
    for rule in node.get("x-kubernetes-validations", []):
        yield path, node, rule
    for name, sub in (node.get("properties") or {}).items():
        yield from rule_nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from rule_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from rule_nodes(node["additionalProperties"], f"{path}{{}}")


def top_level_alternatives(rule: str) -> list[str]:
    """`a || (b || c) || d` -> ['a', '(b || c)', 'd']: split at `||` outside brackets and strings."""
    parts, depth, quote, start, i = [], 0, "", 0, 0
    while i < len(rule):
        c = rule[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif rule.startswith("||", i) and depth == 0:
            parts.append(rule[start:i].strip())
            start = i + 2
            i += 1
        i += 1
    parts.append(rule[start:].strip())
    return parts


def balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0


def always_true(alternative: str, node: Node) -> bool:
    """An alternative that holds for every object this node accepts."""
    alternative = alternative.strip()
    if alternative.startswith("(") and alternative.endswith(")") and balanced(alternative[1:-1]):
        return any(always_true(alt, node) for alt in top_level_alternatives(alternative[1:-1]))
    if alternative == "true":
        return True
    m = re.fullmatch(r"has\(self\.(\w+)\)", alternative)
    if m:
        field = m.group(1)
        prop = (node.get("properties") or {}).get(field, {})
        return field in node.get("required", []) or "default" in prop
    return False


def tautologies(schema: Node) -> list[str]:
    found = []
    for path, node, rule in rule_nodes(schema):
        text = rule["rule"]
        # Or the union generator's exact former pattern, whatever the node's `required` says.
        if any(always_true(alt, node) for alt in top_level_alternatives(text)) or re.fullmatch(
                r"self\.(\w+) != '[^']*' \|\| has\(self\.\1\)", text):
            found.append(f"{path or '<root>'}: {text}")
    return found


def test_the_detector_finds_the_former_union_rules() -> None:
    node = {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}, "x": {}}}
    assert always_true("has(self.type)", node) and not always_true("has(self.x)", node)
    node["x-kubernetes-validations"] = [
        {"rule": "self.type != 'schema' || has(self.type)", "message": "m"},
        {"rule": "self.type != 'length' || has(self.x)", "message": "m"},
        {"rule": "!has(self.x) || (self.x > 1 || true)", "message": "m"},
        {"rule": "has(self.x) || (true)", "message": "m"},
    ]
    assert tautologies(node) == ["<root>: self.type != 'schema' || has(self.type)",
        "<root>: !has(self.x) || (self.x > 1 || true)", "<root>: has(self.x) || (true)"]
    assert top_level_alternatives("a || (b || c) || 'x||y' || d") == ["a", "(b || c)", "'x||y'", "d"]


def test_no_generated_rule_is_a_tautology() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = list(rule_nodes(schema))
    assert len(rules) > 50
    assert tautologies(schema) == []


def test_the_filter_union_still_requires_each_variants_fields() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    filters = schema["properties"]["spec"]["properties"]["filters"]["items"]
    assert filters["required"] == ["type"]
    rules = [r["rule"] for r in filters["x-kubernetes-validations"]]
    assert "self.type != 'decontamination' || has(self.evalSets)" in rules
    assert not [r for r in rules if "has(self.type)" in r]
