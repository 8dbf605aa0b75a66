"""The generator's task inputs read through the records layer, on real files (file://)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from datafoundry.api.spec import Documents, Seeds
from datafoundry.strategies.inputs import load_chunks, load_seeds
from fixtures.object_prefix import write_prefix


def test_documents_prefix_skips_markers_and_reads_gz_and_zst(tmp_path: Path) -> None:
    """Regression: `_SUCCESS`, `_DONE.json` and `.keep` under a documents prefix became documents
    (the strategies' own lister kept them), and `.gz`/`.zst` documents were read as raw bytes."""
    root = write_prefix(tmp_path / "docs", {"a.jsonl": [json.dumps({"text": "Plain passage."})],
                                            "b.jsonl.gz": [json.dumps({"text": "Gzip passage."})],
                                            "c.jsonl.zst": [json.dumps({"text": "Zstd passage."})]})
    docs = Documents.model_validate({"uri": f"file://{root}/", "chunkChars": 100, "chunkOverlapChars": 0})
    chunks = load_chunks(docs, 0, {})
    assert [c.text for c in chunks] == ["Plain passage.", "Gzip passage.", "Zstd passage."]
    assert [c.id.rsplit("/", 1)[-1] for c in chunks] == ["a.jsonl:1#0", "b.jsonl.gz:1#0", "c.jsonl.zst:1#0"]


def test_text_documents_are_decompressed(tmp_path: Path) -> None:
    (tmp_path / "handbook.txt.gz").write_bytes(gzip.compress(b"Pods are the smallest deployable units."))
    docs = Documents.model_validate({"uri": f"file://{tmp_path}/", "chunkChars": 100, "chunkOverlapChars": 0})
    assert [c.text for c in load_chunks(docs, 0, {})] == ["Pods are the smallest deployable units."]


def test_compressed_seeds(tmp_path: Path) -> None:
    f = tmp_path / "seeds.jsonl.gz"
    f.write_bytes(gzip.compress(b'{"instruction": "a", "response": "b"}\n'))
    (seed,) = load_seeds(Seeds.model_validate({"uri": f"file://{f}"}), {})
    assert seed.data == {"instruction": "a", "response": "b"}
