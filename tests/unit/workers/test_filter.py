"""The filter worker (`datafoundry worker filter`) as a subprocess on a `file://` store: real prose
through every content filter, each planted defect dropped by the filter that names it, and bad
lines counted until they pass the threshold. The same worker on S3: tests/integration/test_filter_publish_workers.py."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from datafoundry.api.stages import Stage
from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import EXIT_BAD_INPUT, EXIT_OK, Progress
from datafoundry.pipeline.plan import JobRef, build_plan
from datafoundry.records.read import LineErrors, iter_jsonl
from datafoundry.storage import open_store
from datafoundry.testing.prose import EVAL_QUESTIONS, GERMAN, question, record, text
from datafoundry.testing.workers import WorkerJob, all_filters, gen_spec
from datafoundry.workers import filter as filter_worker
from datafoundry.workers import staging
from fixtures.object_prefix import write_prefix


def test_each_planted_defect_is_dropped_by_the_filter_that_names_it(tmp_path: Path) -> None:
    rng = random.Random(5)
    job = WorkerJob.on_files(tmp_path)
    eval_items = [{"id": f"q{i}", "question": q, "answer": "yes"} for i, q in enumerate(EVAL_QUESTIONS)]
    eval_uri = job.put("evals/mybench.jsonl", "".join(json.dumps(e) + "\n" for e in eval_items).encode())
    job.setup(gen_spec(filters=all_filters(eval_uri)))
    prose = [record(rng, f"p{i}") for i in range(20)]
    planted = [
        {"id": "german", "instruction": "Beschreibe den Abend.", "response": GERMAN},
        {"id": "leak", "instruction": "Answer this question please.", "response": "Here it is: " + EVAL_QUESTIONS[2]},
        {"id": "pii", "instruction": question(rng),
         "response": text(rng, 3) + " Write to jane.doe@example.com or call +1 415 555 0134 today."},
        {"id": "degenerate", "instruction": question(rng),
         "response": "\n".join(["Buy cheap products now at the market today."] * 8)},
        {"id": "refusal", "instruction": question(rng),
         "response": "As an AI language model, I cannot help with that request. " + text(rng, 2)},
    ]
    job.stage_gen(0, 0, [prose[:10], [*prose[10:], *planted]])

    progress = job.ok("filter", 0, 0)

    assert {k: n for k, n in progress.rejected.items() if n} == {"language": 1, "decontamination": 1, "quality": 2}
    assert progress.accepted == 20 + 1  # the prose, and the PII record redacted
    parts = [data for key, data in job.objects(f"_staging/{job.uid}/filter/").items() if key.endswith(".jsonl")]
    kept = [json.loads(line) for data in parts for line in data.decode().splitlines()]
    by_id = {r["id"]: r for r in kept}
    assert {f"p{i}" for i in range(20)} | {"pii"} <= by_id.keys()
    assert "jane.doe" not in by_id["pii"]["response"] and "<EMAIL>" in by_id["pii"]["response"]


def test_bad_lines_are_counted_and_past_the_threshold_fail_the_shard(tmp_path: Path) -> None:
    rng = random.Random(13)
    job = WorkerJob.on_files(tmp_path).setup(gen_spec(filters=[{"type": "length", "minChars": 10}]))
    good = "".join(json.dumps(record(rng, f"g{i}")) + "\n" for i in range(150))
    job.stage_gen(0, 0, [(good + "{not json\n").encode()])
    progress = job.ok("filter", 0, 0)
    assert progress.accepted == 150 and progress.rejected["malformed"] == 1
    assert "part-00000.jsonl line 151" in progress.message

    lines = good.splitlines(keepends=True)
    job.stage_gen(0, 1, ["".join([*lines[:75], "[1, 2]\n", *["oops\n"] * 5, *lines[75:]]).encode()])  # 6 of 156
    rc, failed, stderr = job.worker("filter", 0, 1)
    assert rc == EXIT_BAD_INPUT, stderr[-3000:]
    assert failed is not None and failed.state == "failed"
    assert f"{job.uri('out')}/_staging/{job.uid}/gen/r00/s00001/part-00000.jsonl line 76" in failed.message
    assert not job.store.exists(layout.done_key(job.uid, Stage.FILTER, 0, 1))


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
    done = store.get(layout.done_key("u", Stage.FILTER, 0, 0))
    assert done is not None
    progress = Progress.model_validate_json(done)
    assert (progress.generated, progress.accepted, progress.parse_failures) == (3, 3, 0)
    summary = staging.get_json(store, staging.filter_key("u", 0, 0, staging.SUMMARY))
    assert summary is not None
    errors = LineErrors()
    kept = [r["text"] for part in summary["parts"]
            for _, r in iter_jsonl(store.get(part["key"]) or b"", part["key"], errors)]
    assert kept == list(texts.values())
