"""The filter worker in curation mode on real files (file:// input and output, no S3)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import EXIT_OK, Progress
from datafoundry.pipeline.plan import JobRef, build_plan
from datafoundry.records.read import LineErrors, iter_jsonl
from datafoundry.storage import open_store
from datafoundry.workers import filter as filter_worker
from datafoundry.workers import staging
from fixtures.object_prefix import write_prefix


def test_input_prefix_skips_markers_and_reads_gz_and_zst(tmp_path: Path) -> None:
    """Regression: markers under an input prefix are never records, and compressed input is read
    (the same reader as the generator's documents: `records`)."""
    texts = {"a.jsonl": "Restart the router and wait a minute.", "b.jsonl.gz": "Check that the cable is seated.",
             "c.jsonl.zst": "Look at the status light on the front."}
    root = write_prefix(tmp_path / "in", {name: [json.dumps({"text": t})] for name, t in texts.items()})
    out = tmp_path / "out"
    spec = {"target": {"records": 10}, "input": {"uris": [f"file://{root}/"]},
            "output": {"uri": f"file://{out}"}}
    plan = tmp_path / "plan.json"
    plan.write_text(build_plan(JobRef(name="j", namespace="ns", uid="u"), spec).to_json())

    assert filter_worker.run(argparse.Namespace(plan=str(plan), round=0, shard=0)) == EXIT_OK

    store = open_store(f"file://{out}")
    done = store.get(layout.done_key("u", "filter", 0, 0))
    assert done is not None
    progress = Progress.model_validate_json(done)
    assert (progress.generated, progress.accepted, progress.parse_failures) == (3, 3, 0)
    summary = staging.get_json(store, staging.filter_key("u", 0, 0, staging.SUMMARY))
    assert summary is not None
    errors = LineErrors()
    kept = [r["text"] for part in summary["parts"]
            for _, r in iter_jsonl(store.get(part["key"]) or b"", part["key"], errors)]
    assert kept == list(texts.values())
