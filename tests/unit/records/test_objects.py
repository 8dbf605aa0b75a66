"""What a URI names (`records.objects.resolve`), on real files: markers are never data under a prefix."""

from __future__ import annotations

import json
from pathlib import Path

from datafoundry.records.objects import is_data_object, resolve
from datafoundry.records.read import LineErrors, iter_records
from fixtures.object_prefix import MARKERS, write_prefix


def test_a_prefix_skips_markers_and_reads_compressed_objects(tmp_path: Path) -> None:
    root = write_prefix(tmp_path / "in", {"a.jsonl": [json.dumps({"text": "plain"})],
                                          "b.jsonl.gz": [json.dumps({"text": "gzip"})],
                                          "c.jsonl.zst": [json.dumps({"text": "zstd"})]})
    objects = resolve(f"file://{root}/", {})
    assert [o.name for o in objects] == ["a.jsonl", "b.jsonl.gz", "c.jsonl.zst"]
    errors = LineErrors()
    texts = [r["text"] for o in objects for _, r in iter_records(o, "auto", errors)]
    assert texts == ["plain", "gzip", "zstd"] and errors.malformed == 0


def test_a_uri_naming_one_object_exactly_is_that_object(tmp_path: Path) -> None:
    root = write_prefix(tmp_path / "in", {})
    (obj,) = resolve(f"file://{root}/_DONE.json", {})
    assert obj.name == "_DONE.json"


def test_marker_names() -> None:
    assert not any(is_data_object(f"p/{name}") for name in MARKERS)
    assert not is_data_object("p/") and not is_data_object("p/.tmp-123")
    assert is_data_object("p/part-00000.jsonl") and is_data_object("p_1/x.txt")
