"""task.documents' format, textField and maxChunks decide what the generator reads (found untested
by the field audit). Real files through the workers' own reader (file:// URIs)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from datafoundry.api.spec import Documents
from datafoundry.pipeline.contract import BadInput
from datafoundry.strategies.inputs import load_chunks

PASSAGE = "Pods are the smallest deployable units of computing that you can create and manage. " * 3


def docs(path: Path, **fields: Any) -> Documents:
    return Documents.model_validate({"uri": f"file://{path}", "chunkChars": 100, "chunkOverlapChars": 0, **fields})


def test_format_overrides_the_object_name(tmp_path: Path) -> None:
    f = tmp_path / "handbook.txt"
    f.write_text(json.dumps({"text": PASSAGE}) + "\n")
    as_text = load_chunks(docs(f), 0, {})
    assert as_text[0].text.startswith('{"text"')  # auto: a .txt object is one text document
    as_jsonl = load_chunks(docs(f, format="jsonl"), 0, {})
    assert as_jsonl[0].text.startswith("Pods are") and all("{" not in c.text for c in as_jsonl)


def test_text_field_names_the_field_with_the_text(tmp_path: Path) -> None:
    f = tmp_path / "docs.jsonl"
    f.write_text(json.dumps({"title": "Pods", "body": PASSAGE}) + "\n")
    chunks = load_chunks(docs(f, textField="body"), 0, {})
    assert "".join(c.text for c in chunks).startswith("Pods are the smallest")
    with pytest.raises(BadInput, match="field 'text' is missing"):
        load_chunks(docs(f), 0, {})


def test_text_field_of_parquet_documents(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"content": [PASSAGE], "text": ["not this"]}), buf)
    f = tmp_path / "docs.parquet"
    f.write_bytes(buf.getvalue())
    chunks = load_chunks(docs(f, textField="content"), 0, {})
    assert chunks and chunks[0].text.startswith("Pods are")


def test_max_chunks_keeps_that_many_sampled_with_the_seed(tmp_path: Path) -> None:
    f = tmp_path / "docs.jsonl"
    f.write_text("".join(json.dumps({"text": f"Document {i}. " + PASSAGE}) + "\n" for i in range(5)))
    every = load_chunks(docs(f), 0, {})
    assert len(every) > 6
    some = load_chunks(docs(f, maxChunks=4), 7, {})
    assert len(some) == 4 and set(some) <= set(every)
    assert load_chunks(docs(f, maxChunks=4), 7, {}) == some
    assert load_chunks(docs(f, maxChunks=4), 8, {}) != some
