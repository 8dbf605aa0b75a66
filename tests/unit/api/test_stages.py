"""The stage vocabulary: one definition, and every key and name derived from it stays as it was
(a staging layout or a child name that changed would strand the objects of running jobs)."""

from __future__ import annotations

from datafoundry.api import keys
from datafoundry.api.meta import GROUP
from datafoundry.api.stages import Stage
from datafoundry.controller import children as ch
from datafoundry.controller import metrics
from datafoundry.pipeline import contract, layout
from datafoundry.workers import STAGES


def test_stages_in_order_with_their_short_names() -> None:
    assert [(s.value, s.short) for s in Stage] == [
        ("generate", "gen"), ("filter", "filter"), ("dedup", "dedup"), ("evaluate", "eval"), ("publish", "publish")]


def test_staging_keys_use_the_short_names() -> None:
    assert layout.part_key("u", Stage.GENERATE, 1, 2, 3) == "_staging/u/gen/r01/s00002/part-00003.jsonl"
    assert layout.done_key("u", Stage.FILTER, 0, 7) == "_staging/u/filter/r00/s00007/_DONE.json"
    assert layout.checkpoint_key("u", Stage.GENERATE, 0, 0) == "_staging/u/gen/r00/s00000/checkpoint.json"
    assert layout.progress_key("u", Stage.GENERATE, 0, 4) == "_staging/u/_progress/gen-r00-s00004.json"
    assert layout.shard_prefix("u", Stage.DEDUP, 2, 0) == "_staging/u/dedup/r02/s00000"
    assert layout.shard_prefix("u", Stage.EVALUATE, 1, 0) == "_staging/u/eval/r01/s00000"


def test_child_names_worker_args_modules_and_metrics_follow_the_stages() -> None:
    assert ch.generate_job_name("j", 0) == "j-gen-r0"
    assert ch.filter_job_name("j", 1, 3) == "j-filter-r1-s3"
    assert ch.dedup_job_name("j", 2) == "j-dedup-r2"
    assert ch.evaluate_job_name("j") == "j-eval"
    assert ch.publish_job_name("j") == "j-publish"
    assert contract.worker_args(Stage.FILTER, 1)[:2] == ["worker", "filter"]
    assert {s: f"datafoundry.workers.{s.value}" for s in Stage} == STAGES
    assert metrics.STAGES == ("generate", "filter", "dedup", "evaluate", "publish")


def test_label_keys_are_under_the_api_group() -> None:
    ours = [keys.LABEL_JOB_NAME, keys.LABEL_JOB_UID, keys.LABEL_STAGE, keys.LABEL_ROUND, keys.LABEL_SHARD]
    assert all(k.startswith(f"{GROUP}/") for k in ours)
    assert keys.LABEL_STAGE == "datafoundry.io/stage"
