"""The dedup worker (`datafoundry worker dedup`) as a subprocess on a `file://` store: an exact copy
and a near copy in another shard are dropped once each, a paraphrase is kept, and a rerun writes the
same verdict. The same worker on S3: tests/integration/test_filter_publish_workers.py."""

from __future__ import annotations

import random
from pathlib import Path

from datafoundry.testing.prose import edit_words, paraphrase, record
from datafoundry.testing.workers import WorkerJob, gen_spec


def test_exact_and_near_copies_across_shards_are_dropped_once(tmp_path: Path) -> None:
    rng = random.Random(5)
    job = WorkerJob.on_files(tmp_path).setup(gen_spec(filters=[
        {"type": "exactDedup"}, {"type": "minhash", "threshold": 0.8, "numPerm": 128, "bands": 16}]))
    exact, near, para = record(rng, "exact-a"), record(rng, "near-a"), record(rng, "para-a")
    # the same text but for spacing and punctuation ("!" for ".")
    exact_copy = {**exact, "id": "exact-b", "response": exact["response"].replace(" ", "  ").replace(".", "!")}
    near_copy = {**near, "id": "near-b", "response": edit_words(near["response"], 70, rng)}
    para_copy = {**para, "id": "para-b", "response": paraphrase(para["response"], rng)}
    job.stage_gen(0, 0, [[*(record(rng, f"s0-{i}") for i in range(10)), exact, near, para]])
    job.stage_gen(0, 1, [[*(record(rng, f"s1-{i}") for i in range(10)), exact_copy, near_copy, para_copy]])
    assert job.ok("filter", 0, 0).accepted == job.ok("filter", 0, 1).accepted == 13

    dedup = job.ok("dedup", 0)

    assert dedup.generated == 26
    assert dedup.rejected == {"exactDedup": 1, "minhash": 1}
    assert dedup.accepted == 24
    assert job.ok("dedup", 0).model_dump(exclude={"started_at", "updated_at"}) == \
        dedup.model_dump(exclude={"started_at", "updated_at"})
