"""spec.input's and spec.mix.replay's format and textField decide how their objects are read
(found untested by the field audit): the workers call `iter_records(obj, <format>, errors,
<textField>)` with them (workers/filter.py, workers/publish.py). Real files, the workers' reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.records.objects import resolve
from datafoundry.records.read import LineErrors, iter_records

LINES = [{"content": "Restart the router.", "id": 1}, {"content": "Check the cable.", "id": 2}]


def curation_spec(input_: dict[str, Any], replay: dict[str, Any]) -> DataFoundryJobSpec:
    return DataFoundryJobSpec.model_validate({
        "target": {"records": 10},
        "input": input_,
        "mix": {"replay": {"ratio": 0.2, **replay}},
        "output": {"uri": "file:///out"},
    })


def read(uri: str, fmt: str, text_field: str) -> list[dict[str, Any]]:
    (obj,) = resolve(uri, {})
    errors = LineErrors()
    out = [record for _, record in iter_records(obj, fmt, errors, text_field)]
    assert errors.malformed == 0, errors.examples
    return out


@pytest.fixture
def jsonl_named_txt(tmp_path: Path) -> str:
    f = tmp_path / "export.txt"  # JSONL under a name that says text
    f.write_text("".join(json.dumps(r) + "\n" for r in LINES))
    return f"file://{f}"


def test_input_format_overrides_the_object_name(jsonl_named_txt: str) -> None:
    spec = curation_spec({"uris": [jsonl_named_txt], "format": "jsonl"}, {"uri": jsonl_named_txt})
    assert spec.input is not None
    assert read(jsonl_named_txt, spec.input.format.value, spec.input.text_field) == LINES
    auto = curation_spec({"uris": [jsonl_named_txt]}, {"uri": jsonl_named_txt})
    assert auto.input is not None
    assert read(jsonl_named_txt, auto.input.format.value, auto.input.text_field)[0] == {"text": json.dumps(LINES[0])}


def test_replay_format_and_text_field(jsonl_named_txt: str, tmp_path: Path) -> None:
    spec = curation_spec({"uris": [jsonl_named_txt]}, {"uri": jsonl_named_txt, "format": "jsonl"})
    assert spec.mix is not None and spec.mix.replay is not None
    replay = spec.mix.replay
    assert read(replay.uri, replay.format.value, replay.text_field) == LINES
    # A text object: each line is a record with the text in textField.
    text = tmp_path / "general.txt"
    text.write_text("Water boils at 100 degrees.\nIce floats.\n")
    spec = curation_spec({"uris": [jsonl_named_txt]}, {"uri": f"file://{text}", "textField": "passage"})
    assert spec.mix is not None and spec.mix.replay is not None
    replay = spec.mix.replay
    assert read(replay.uri, replay.format.value, replay.text_field) == [
        {"passage": "Water boils at 100 degrees."}, {"passage": "Ice floats."}]


def test_input_text_field_of_text_objects(tmp_path: Path) -> None:
    text = tmp_path / "raw.txt"
    text.write_text("one line\n")
    spec = curation_spec({"uris": [f"file://{text}"], "textField": "body"}, {"uri": f"file://{text}"})
    assert spec.input is not None
    assert read(f"file://{text}", spec.input.format.value, spec.input.text_field) == [{"body": "one line"}]
