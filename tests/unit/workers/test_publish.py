"""The publish worker (`datafoundry worker publish`) as a subprocess on a `file://` store, after the
real filter and dedup workers: the manifest checks out against the shards, replay joins at its
ratio, a curation job's `_SUCCESS` marker under its input prefix is no record, and a rerun publishes
byte for byte the same. The same workers on S3: tests/integration/test_filter_publish_workers.py."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from datafoundry.pipeline import layout
from datafoundry.testing.prose import record, text
from datafoundry.testing.workers import WorkerJob, gen_spec


def test_generated_and_replay_records_are_published_with_a_manifest_and_card(tmp_path: Path) -> None:
    rng = random.Random(7)
    job = WorkerJob.on_files(tmp_path)
    replay = [{"text": text(rng, 3), "id": f"replay-{i}"} for i in range(40)]
    replay_uri = job.put("replay/general.jsonl", "".join(json.dumps(r) + "\n" for r in replay).encode())
    job.setup(gen_spec(generator={"model": "org/tiny", "shards": 1}, filters=[{"type": "exactDedup"}],
                       mix={"replay": {"uri": replay_uri, "ratio": 0.25}}))
    job.stage_gen(0, 0, [[record(rng, f"g{i}") for i in range(30)]])
    job.ok("filter", 0, 0)
    job.ok("dedup", 0)

    published = job.ok("publish", 0)

    manifest, records = job.published()
    sources = [r["_source"] for r in records]
    assert sources.count("generated") == 30 and published.accepted == len(records) == manifest["records"]
    assert sources.count("replay") == 10  # a quarter of the dataset
    assert manifest["job"]["uid"] == job.uid and manifest["recipeHash"] == job.plan.recipe_hash
    assert published.sha256 == hashlib.sha256(job.store.get(layout.MANIFEST) or b"").hexdigest()
    card = (job.store.get(layout.CARD) or b"").decode()
    assert hashlib.sha256(card.encode()).hexdigest() == manifest["card"]["sha256"] and "## Funnel" in card
    before = job.objects("data/")
    assert job.ok("publish", 0).sha256 == published.sha256
    assert job.objects("data/") == before


def test_curation_input_prefix_skips_its_success_marker(tmp_path: Path) -> None:
    rng = random.Random(11)
    job = WorkerJob.on_files(tmp_path)
    rows = [{"content": text(rng, 4), "n": i} for i in range(20)]
    job.put("input/a.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    job.put("input/_SUCCESS", b"")
    job.setup({"target": {"records": 1000}, "seed": 3,
               "input": {"uris": [job.uri("input/")], "shards": 1, "textField": "content"},
               "filters": [{"type": "length", "minChars": 20}]})
    assert job.ok("filter", 0, 0).generated == 20
    job.ok("dedup", 0)
    job.ok("publish", 0)
    _, records = job.published()
    assert sorted(r["n"] for r in records) == list(range(20))
