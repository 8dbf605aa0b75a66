"""examples/qa-from-documents.yaml drops records that copy its eval items, short ones included.

The example's filters are built as the filter worker builds them (workers.recipe_filters.build_chain), with
every option as written; only the eval set's s3:// URI points at a local JSONL. The records have
the shape the documentQA strategy writes (question, the runbook chunk as context, answer, id and
meta). An eval item shorter than the 13-word n-gram used to be left out of the index: a record
copying it verbatim passed. Now it is matched whole and must be dropped like a copy of a long one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.filters import DecontaminationFilter, FilterChain, MinHashFilter, NearDupResult, cluster_duplicates
from datafoundry.filters.minhash import shingle_words
from datafoundry.pipeline.output_env import output_env
from datafoundry.publish.manifest import merge_decontamination
from datafoundry.workers.recipe_filters import build_chain, find

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "qa-from-documents.yaml"
BENCHMARK = "runbook-qa-test"  # the eval set object's name without its extension, as the worker names it
DECONTAM = "decontamination"  # the filter's name in the example (its type)

# Runbook sections of under 700 characters: each one is a whole chunk (chunkChars: 2000).
TRIAGE = (
    "Incident triage. When a page fires, acknowledge it within five minutes so the escalation policy "
    "does not wake the secondary. Open the service dashboard before anything else: it shows the error "
    "rate, the request latency and the saturation of every tier, and it usually tells you which "
    "component is failing. Post a short note in the incident channel with the alert name and what the "
    "dashboard shows.\n\n"
    "If the error rate is above two percent for more than ten minutes, declare an incident and name an "
    "incident commander. Do not restart services before you have captured the logs and a heap profile, "
    "because a restart destroys the evidence we need for the review."
)
ROLLBACK = (
    "Rolling back a release. Every deploy goes first to the canary pool, which takes five percent of "
    "the traffic. After a deploy, watch the canary error rate for ten minutes. If it stays above one "
    "percent, roll back with the deploy tool and the previous release tag; the rollback takes about "
    "four minutes.\n\n"
    "Database migrations are not rolled back automatically. If the release included a migration, check "
    "with the owning team whether the old code can run against the new schema before you roll back. "
    "Write the release tag and the reason for the rollback in the deploy log."
)
DISK = (
    "Disk pressure on the build agents. The agents alert when a volume is more than ninety percent "
    "full. Most of the space is taken by old container images and by build caches that were never "
    "pruned. Run the cleanup job from the scheduler first; it removes images older than seven days and "
    "the caches of branches that were merged.\n\n"
    "If the volume is still above eighty percent after the cleanup, drain the agent, let the running "
    "builds finish and replace the agent with a fresh one from the pool. Never delete files by hand in "
    "the workspace directory while builds are running."
)

SHORT_Q = "What does the on-call engineer check first?"
SHORT_A = "the dashboard"
LONG_Q = (
    "After a deploy goes to the canary pool, how long should the on-call engineer watch it before "
    "deciding to roll back?"
)
LONG_A = (
    "Watch the canary error rate for ten minutes, and roll back with the previous release tag if it "
    "stays above one percent."
)
EVAL_ITEMS = [
    {"id": "rq-001", "question": SHORT_Q, "answer": SHORT_A},
    {"id": "rq-002", "question": LONG_Q, "answer": LONG_A},
]

CLEAN = {  # other questions on the same runbooks, answered from them
    "clean-ack": (
        "How quickly should a page be acknowledged during incident triage?",
        "Acknowledge the page within five minutes, so that the escalation policy does not wake the "
        "secondary on-call engineer.",
        TRIAGE,
    ),
    "clean-restart": (
        "Why should I avoid restarting a service before capturing its logs?",
        "A restart destroys the logs and the heap profile that the incident review needs, so capture "
        "them first.",
        TRIAGE,
    ),
    "clean-migration": (
        "Are database migrations undone when a release is rolled back?",
        "No. Migrations are not rolled back automatically, so check with the owning team that the old "
        "code can run against the new schema.",
        ROLLBACK,
    ),
    "clean-cleanup": (
        "What should I do first when a build agent runs low on disk space?",
        "Run the cleanup job from the scheduler. It removes container images older than seven days and "
        "the caches of merged branches.",
        DISK,
    ),
    "clean-drain": (
        "What if a build agent volume is still too full after the cleanup job?",
        "Drain the agent, let the running builds finish, and then replace it with a fresh agent from "
        "the pool.",
        DISK,
    ),
}
COPIES = {  # the eval items verbatim, on the runbook they come from
    "copy-short": (SHORT_Q, SHORT_A, TRIAGE),
    "copy-long": (LONG_Q, LONG_A, ROLLBACK),
}


def document_qa_record(record_id: str, question: str, answer: str, chunk: str, index: int) -> dict[str, Any]:
    """A record as the generator writes it for documentQA (workers.generate: id, content, meta)."""
    return {
        "id": record_id,
        "question": question,
        "context": chunk,
        "answer": answer,
        "meta": {"strategy": "documentQA", "source": {"chunk": f"runbooks/{index}"}, "round": 0, "shard": 0},
    }


def example_spec(eval_set_uri: str | None = None) -> DataFoundryJobSpec:
    """The example's spec as written; with `eval_set_uri`, its evalSets point there instead."""
    spec = yaml.safe_load(EXAMPLE.read_text())["spec"]
    if eval_set_uri is not None:
        decontam = [f for f in spec["filters"] if f["type"] == "decontamination"]
        assert len(decontam) == 1
        assert len(decontam[0]["evalSets"]) == 1
        assert decontam[0]["evalSets"][0].endswith(f"/{BENCHMARK}.jsonl")
        decontam[0]["evalSets"] = [eval_set_uri]
    return DataFoundryJobSpec.model_validate(spec)


@dataclass
class Run:
    chain: FilterChain
    kept: list[dict[str, Any]]
    dropped: dict[str, tuple[str, str]]  # record id -> (filter, reason)
    decontam: DecontaminationFilter
    near_dups: NearDupResult


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    eval_set = tmp_path_factory.mktemp("evals") / f"{BENCHMARK}.jsonl"
    eval_set.write_text("".join(json.dumps(item) + "\n" for item in EVAL_ITEMS))
    spec = example_spec(eval_set.as_uri())
    chain = build_chain(spec, output_env(spec))
    cases = {**CLEAN, **COPIES}
    records = [document_qa_record(rid, q, a, c, i) for i, (rid, (q, a, c)) in enumerate(cases.items())]
    kept: list[dict[str, Any]] = []
    dropped: dict[str, tuple[str, str]] = {}
    for record in records:
        before = {name: dict(reasons) for name, reasons in chain.funnel.dropped_by.items()}
        out = chain.apply(record)
        if out is not None:
            kept.append(out)
            continue
        dropped[record["id"]] = next(
            (name, reason)
            for name, reasons in chain.funnel.dropped_by.items()
            for reason, n in reasons.items()
            if n > before[name].get(reason, 0)
        )
    decontam = find(chain, DecontaminationFilter)
    minhash = find(chain, MinHashFilter)
    assert decontam is not None and minhash is not None
    # The global near-duplicate pass, as the dedup worker runs it over the shard's accepted records.
    near_dups = cluster_duplicates({0: minhash.finish()}, verify_threshold=minhash.hasher.threshold)
    return Run(chain=chain, kept=kept, dropped=dropped, decontam=decontam, near_dups=near_dups)


def test_only_the_eval_set_uri_is_changed() -> None:
    written = example_spec()
    local = example_spec("file:///tmp/evals/runbook-qa-test.jsonl")
    assert [f.type for f in local.filters or ()] == [
        "language", "length", "quality", "pii", "exactDedup", "minhash", "decontamination",
    ]
    as_written = written.model_dump()
    for f in as_written["filters"]:
        if f["type"] == "decontamination":
            f["eval_sets"] = ["file:///tmp/evals/runbook-qa-test.jsonl"]
    assert local.model_dump() == as_written


def test_the_short_eval_item_is_shorter_than_the_ngram(run: Run) -> None:
    assert run.decontam.ngram == 13
    assert len(shingle_words(f"{SHORT_Q}\n{SHORT_A}").split()) < run.decontam.ngram
    assert len(shingle_words(f"{LONG_Q}\n{LONG_A}").split()) >= run.decontam.ngram


def test_both_copies_are_dropped_by_decontamination_and_the_clean_records_kept(run: Run) -> None:
    assert run.dropped == {
        "copy-short": (DECONTAM, f"contaminated:{BENCHMARK}"),
        "copy-long": (DECONTAM, f"contaminated:{BENCHMARK}"),
    }
    assert [r["id"] for r in run.kept] == list(CLEAN)
    funnel = run.chain.funnel
    assert (funnel.seen, funnel.kept) == (len(CLEAN) + len(COPIES), len(CLEAN))
    assert funnel.dropped_by[DECONTAM] == {f"contaminated:{BENCHMARK}": 2}
    assert {name: n for name, n in funnel.dropped_by.items() if n} == {DECONTAM: {f"contaminated:{BENCHMARK}": 2}}
    assert not any(funnel.modified_by.values())  # nothing to redact: the kept records are as generated
    assert run.near_dups.duplicates == 0  # nor are the clean ones near-duplicates of each other
    assert run.chain.stats()[DECONTAM] == {f"records:{BENCHMARK}": 2}


def test_the_report_counts_the_short_item_as_indexed_and_matched(run: Run) -> None:
    report = run.decontam.report.to_dict()
    assert report["evalSets"] == {
        BENCHMARK: {"items": 2, "indexed": 2, "shortItems": 1, "exactOnlyItems": 0, "emptyItems": 0},
    }
    assert report["items"] == {BENCHMARK: ["rq-001", "rq-002"]}
    assert report["recordsByBenchmark"] == {BENCHMARK: 2}
    assert run.decontam.indexed_items == 2
    # As the manifest shows it (one filter shard).
    manifest = merge_decontamination([json.loads(json.dumps(report))])
    assert manifest["evalSets"][BENCHMARK] == {
        "items": 2, "indexed": 2, "shortItems": 1, "exactOnlyItems": 0, "emptyItems": 0,
        "matchedItems": 2, "records": 2,
    }


def test_records_on_one_long_passage_are_not_near_duplicates_of_each_other(tmp_path: Path) -> None:
    """documentQA asks several questions about one chunk (up to chunkChars, 2000 in the example) and
    keeps the chunk as `context`: exact and near-duplicate detection compare what the records ask
    and answer, not the passage they share."""
    eval_set = tmp_path / "runbook-qa-test.jsonl"
    eval_set.write_text(json.dumps({"question": SHORT_Q, "answer": SHORT_A}) + "\n")
    spec = example_spec(eval_set.as_uri())
    chain = build_chain(spec, output_env(spec))
    passage = " ".join([TRIAGE, ROLLBACK, DISK])  # ~1,900 characters, one chunk
    assert len(passage) > 1500
    pairs = [(q, a) for q, a, _ in CLEAN.values()]
    records = [document_qa_record(f"r{i}", q, a, passage, i) for i, (q, a) in enumerate(pairs)]
    kept = [r for r in records if chain.apply(r) is not None]
    assert len(kept) == len(records)
    minhash = find(chain, MinHashFilter)
    assert minhash is not None
    near = cluster_duplicates({0: minhash.finish()}, verify_threshold=minhash.hasher.threshold)
    assert near.duplicates == 0, near
    # The same question and answer on another passage is still a duplicate.
    again = document_qa_record("again", pairs[0][0], pairs[0][1], TRIAGE, 99)
    assert chain.apply(again) is None
