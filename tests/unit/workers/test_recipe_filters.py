"""spec.filters built into the filter worker's chain (`workers.recipe_filters`)."""

from __future__ import annotations

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.filters import LengthFilter, PIIFilter
from datafoundry.workers.recipe_filters import build_chain


def test_each_filter_type_builds_its_filter_under_its_name() -> None:
    spec = DataFoundryJobSpec.model_validate({
        "target": {"records": 10}, "input": {"uris": ["file:///in"]}, "output": {"uri": "file:///out"},
        "filters": [{"type": "length", "minChars": 2}, {"type": "pii", "action": "drop", "name": "pii-strict"}],
    })
    length, pii = build_chain(spec, {}).filters
    assert isinstance(length, LengthFilter) and length.name == "length"
    assert isinstance(pii, PIIFilter) and pii.name == "pii-strict"
    assert [r["text"] for r in build_chain(spec, {}).run([{"text": "a"}, {"text": "ok"}])] == ["ok"]
