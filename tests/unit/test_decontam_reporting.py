"""Decontamination counts on their way out: filter shards -> manifest -> card, publish Progress -> status."""

from __future__ import annotations

import json
from typing import Any

from datafoundry.api.crd import build_crd
from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.api.status import DataFoundryJobStatus
from datafoundry.controller.reconcile import Decision
from datafoundry.controller.status import build_status
from datafoundry.filters import DecontaminationFilter, FilterChain
from datafoundry.filters.decontam import MIN_PHRASE_WORDS
from datafoundry.pipeline.contract import Progress, termination_message
from datafoundry.publish import card
from datafoundry.publish.manifest import merge_decontamination

LONG = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        "How many clips did Natalia sell altogether in April and May?")
EVAL_ITEMS = [
    ("gsm8k", "g1", LONG),
    ("trivia", "t1", "Who painted the Mona Lisa?"),  # short: contiguous words
    ("trivia", "t2", "Who wrote Hamlet?"),  # short, under the floor: whole-field equality
    ("trivia", "t3", "..."),  # no words
]
SPEC = DataFoundryJobSpec.model_validate({
    "task": {"domain": "Trivia", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
    "target": {"records": 10},
    "generator": {"model": "org/tiny"},
    "filters": [{"type": "decontamination", "evalSets": ["s3://bucket-x/evals/"]}],
    "output": {"uri": "s3://bucket-x/out", "credentials": {"secretRef": {"name": "s3"}}},
})


def shard_reports() -> list[dict[str, Any] | None]:
    """Two filter shards (each builds the whole index), as their summaries store the report."""
    shards = [
        [{"text": "Quiz: who painted the Mona Lisa?"}, {"text": "Solve: " + LONG}, {"text": "original"}],
        [{"instruction": "Who painted the Mona Lisa?", "output": "Leonardo."}, {"instruction": "Who wrote Hamlet?"}],
    ]
    reports: list[dict[str, Any] | None] = []
    for records in shards:
        f = DecontaminationFilter(eval_items=EVAL_ITEMS)
        list(FilterChain([f]).run(records))
        reports.append(json.loads(json.dumps(f.report.to_dict())))
    return reports


def test_manifest_merges_shards_per_eval_set() -> None:
    merged = merge_decontamination(shard_reports())
    assert merged["ngram"] == 13 and merged["minPhraseWords"] == MIN_PHRASE_WORDS
    assert merged["recordsByBenchmark"] == {"gsm8k": 1, "trivia": 3}
    assert merged["items"] == {"gsm8k": ["g1"], "trivia": ["t1", "t2"]}
    assert merged["evalSets"] == {  # eval set counts once (every shard reads them all); t1 matched on both shards
        "gsm8k": {"items": 1, "indexed": 1, "shortItems": 0, "exactOnlyItems": 0, "emptyItems": 0,
                  "matchedItems": 1, "records": 1},
        "trivia": {"items": 3, "indexed": 2, "shortItems": 2, "exactOnlyItems": 1, "emptyItems": 1,
                   "matchedItems": 2, "records": 3},
    }
    assert merged["totals"] == {"items": 4, "indexed": 3, "shortItems": 2, "exactOnlyItems": 1, "emptyItems": 1,
                                "matchedItems": 3, "records": 4}


def test_without_the_filter_the_manifest_keeps_its_empty_shape() -> None:
    assert merge_decontamination([None, None]) == {"recordsByBenchmark": {}, "items": {}}


def test_card_lists_each_eval_set_and_how_short_items_match() -> None:
    def render(decontamination: dict[str, Any] | None) -> str:
        return card.render(job_name="trivia", spec=SPEC, plan_spec={"filters": [{"type": "decontamination"}]},
                           recipe_hash="h", uid="u", generation=1, funnel={}, shards=[], generated=0, replay=0,
                           fmt="jsonl", ext="jsonl", decontamination=decontamination)

    text = render(merge_decontamination(shard_reports()))
    assert "## Decontamination" in text
    assert "5 to 12 words when a record contains them as one contiguous word sequence" in text
    assert "under 5 words only when whole fields of the record (or the whole record) equal them" in text
    assert "| eval set | items | short (< 13 words) | exact-only (< 5 words) | empty | matched items |" in text
    assert "| `gsm8k` | 1 | 0 | 0 | 0 | 1 | 1 |" in text
    assert "| `trivia` | 3 | 2 | 1 | 1 | 2 | 3 |" in text
    assert "| all | 4 | 2 | 1 | 1 | 3 | 4 |" in text
    assert "## Decontamination" not in render(None)
    assert "## Decontamination" not in render(merge_decontamination([None]))


def test_status_output_carries_the_totals_from_the_publish_pod() -> None:
    totals = merge_decontamination(shard_reports())["totals"]
    published = Progress(stage="publish", round=0, shard=0, state="done", accepted=10, bytes_written=99,
                         manifest_uri="s3://bucket-x/out/manifest.json", decontamination=totals)
    # the operator reads it from the pod's termination message
    received = Progress.model_validate_json(termination_message(published))
    d = Decision(published=received, succeeded=("Published", "published 10 records"))
    status = build_status({}, d, generation=1, target=10, output_uri="s3://bucket-x/out", plan_hash="h",
                          plan_config_map="p")
    assert status["output"]["decontamination"] == totals
    model = DataFoundryJobStatus.model_validate(status)  # the schema knows every key (nothing pruned)
    assert model.output is not None and model.output.decontamination is not None
    assert model.output.decontamination.short_items == 2 and model.output.decontamination.matched_items == 3
    # no decontamination filter: no key
    plain = Decision(published=published.model_copy(update={"decontamination": None}), succeeded=("Published", "x"))
    assert "decontamination" not in build_status({}, plain, generation=1, target=10, output_uri="s3://bucket-x/out",
                                                 plan_hash="h", plan_config_map="p")["output"]


def test_kubectl_explain_says_how_short_items_are_matched() -> None:
    item = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "filters"]["items"]
    explained = item["properties"]["evalSets"]["description"]
    assert "shorter items are never skipped but matched whole" in explained
    assert f"from {MIN_PHRASE_WORDS} words" in explained and f"under {MIN_PHRASE_WORDS} words" in explained
    assert "decontamination: Drop records containing an evaluation item" in item["description"]
