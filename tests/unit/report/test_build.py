"""The report builder: exact counts on hand-made records, a seeded sample that ignores record order,
a schema-valid report, and findings that tell real SmolLM2 output from defective text."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.api.status import QualityStatus
from datafoundry.report import build, markdown
from datafoundry.report.build import ReportBuilder, ReportContext

REPO = Path(__file__).resolve().parents[3]
CORPORA = REPO / "tests" / "unit" / "filters" / "corpora"
QUICKSTART = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())["spec"]


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _quickstart_context(**extra: Any) -> ReportContext:
    from datafoundry.report.job import references

    refs, sources, prompts = references(DataFoundryJobSpec.model_validate(QUICKSTART), {})
    return ReportContext(seed=7, language="en", references=refs, reference_sources=sources, seed_prompts=prompts,
                         **extra)


def _report(records: list[dict[str, Any]], ctx: ReportContext) -> dict[str, Any]:
    builder = ReportBuilder(ctx)
    for r in records:
        builder.add(r)
    report = builder.finish(data_bytes=123)
    jsonschema.validate(report, build.schema())
    return report


def test_counts_coverage_scores_and_lengths_by_hand() -> None:
    records = [
        {"id": "a", "text": "Restart the pod.", "label": "ops", "_source": "generated",
         "meta": {"strategy": "taxonomy", "source": {"topic": "Pods", "subtopic": "restarts"},
                  "judge": {"score": 8}, "completionTokens": 5}},
        {"id": "b", "text": "Scale the deployment to three replicas.", "label": "ops", "_source": "generated",
         "meta": {"strategy": "taxonomy", "source": {"topic": "Pods", "subtopic": "restarts"},
                  "judge": {"score": 6}, "completionTokens": 9}},
        {"id": "c", "text": "The invoice is overdue.", "label": "billing", "_source": "replay"},
        {"id": "d", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
         "_source": "replay"},
    ]
    ctx = ReportContext(seed=1, language="en", taxonomy=[("Pods", ["restarts", "probes"]), ("Nodes", [])],
                        label_field="label", labels=["ops", "billing", "legal"], judge_threshold=7.0)
    report = _report(records, ctx)
    assert report["size"]["records"] == 4 and report["size"]["bytes"] == 123
    assert report["size"]["bySource"] == {"generated": 2, "replay": 2}
    # texts 16 + 39 + 23, labels "ops" "ops" "billing" 3 + 3 + 7, and the turns "Hi\nHello!" 9
    assert report["size"]["characters"] == 16 + 39 + 23 + 3 + 3 + 7 + 9
    assert report["size"]["tokens"]["generatorCompletionTokens"] == 14
    assert report["fields"]["text"]["records"] == 3
    assert report["fields"]["text"]["chars"]["min"] == 16 and report["fields"]["text"]["chars"]["max"] == 39
    assert report["fields"]["messages"]["chars"]["p50"] == 9
    cov = report["coverage"]
    assert cov["strategies"] == {"taxonomy": 2}
    assert cov["taxonomy"] == {"nodes": {"Pods / restarts": 2, "Pods / probes": 0, "Nodes": 0},
                               "empty": ["Pods / probes", "Nodes"]}
    assert cov["labels"]["counts"] == {"ops": 2, "billing": 1, "legal": 0}
    assert cov["turns"]["max"] == 2
    judge = report["scores"]["judge"]
    assert judge["histogram"]["8"] == 1 and judge["histogram"]["6"] == 1 and judge["threshold"] == 7.0
    assert judge["mean"] == 7.0
    assert report["scores"]["preferenceMargin"] is None  # no preference pairs
    assert report["process"]["replayShare"] == 0.5
    assert report["domain"] is None  # no reference text
    assert len(report["samples"]) == 4


def test_preference_margins_are_summarised_with_or_without_judge_scores() -> None:
    def pair(i: int, margin: Any) -> dict[str, Any]:
        return {"id": f"p{i}", "prompt": "How do I drain a node?", "chosen": "kubectl drain node-1",
                "rejected": "Nodes are machines.", "_source": "generated",
                "meta": {"strategy": "preferencePairs", "source": {"samples": 4, "margin": margin}}}

    records = [pair(i, m) for i, m in enumerate([2.0, 3.0, 7.0, 4.0, 10.0])] + [pair(9, None), pair(8, True)]
    report = _report(records, ReportContext(seed=1, language="en"))
    assert report["scores"]["judge"] is None
    margin = report["scores"]["preferenceMargin"]
    assert (margin["min"], margin["p50"], margin["max"], margin["mean"]) == (2.0, 4.0, 10.0, 5.2)
    assert sum(margin["histogram"]["counts"]) == 5  # a missing or non-numeric margin is not one
    text = "\n".join(markdown.section(report))
    assert "### Preference margins" in text and "2 / 2 / 4 / 10 / 10" in text and "### Judge scores" not in text
    assert _report([pair(0, None)], ReportContext(seed=1, language="en"))["scores"] is None


def test_sample_is_seeded_and_ignores_record_order() -> None:
    rows = _rows(CORPORA / "real" / "en" / "handwritten.jsonl")
    records = [{"id": f"r{i}", **r} for i, r in enumerate(rows)]
    ctx = _quickstart_context()
    small = ReportBuilder(ctx, sample_size=10)
    shuffled = ReportBuilder(ctx, sample_size=10)
    for r in records:
        small.add(r)
    for r in random.Random(3).sample(records, len(records)):
        shuffled.add(r)
    assert [r["id"] for r in small.sample()] == [r["id"] for r in shuffled.sample()]
    assert small.finish() == shuffled.finish()
    other_seed = ReportBuilder(_quickstart_context().__class__(seed=8), sample_size=10)
    for r in records:
        other_seed.add(r)
    assert [r["id"] for r in other_seed.sample()] != [r["id"] for r in small.sample()]


def test_batches_count_what_single_records_count_and_ordered_samples_the_first() -> None:
    rows = _rows(CORPORA / "real" / "en" / "handwritten.jsonl")
    records = [{"id": f"r{i}", **r, "_source": "generated", "meta": {"strategy": "s" + str(i % 3),
                "judge": {"score": i % 11}, "completionTokens": i}} for i, r in enumerate(rows)]
    one = ReportBuilder(_quickstart_context(), sample_size=20)
    many = ReportBuilder(_quickstart_context(), sample_size=20)
    for r in records:
        one.add(r)
    for start in range(0, len(records), 7):
        many.add_many(records[start:start + 7])
    assert one.finish() == many.finish()
    ordered = ReportBuilder(_quickstart_context(), sample_size=20, ordered=True)
    ordered.add_many(records[:5])
    ordered.add_many(records[5:])
    assert [r["id"] for r in ordered.sample()] == [f"r{i}" for i in range(20)]


def test_language_mix_comes_from_the_language_filter_when_one_ran() -> None:
    records = _answers(CORPORA / "real" / "en" / "smollm2-135m-instruct.jsonl")
    language_filter = {"type": "language", "stats": {"en": 30, "de": 10}}
    counted = _report(records, _quickstart_context(filters={"lang": language_filter}))
    assert counted["process"]["languages"] == {"en": 0.75, "de": 0.25}
    assert counted["process"]["languagesFrom"] == "languageFilter"
    detected = _report(records, _quickstart_context())
    assert detected["process"]["languages"] == {"en": 1.0} and detected["process"]["languagesFrom"] == "sample"


def _answers(path: Path) -> list[dict[str, Any]]:
    """The corpus records as published instruction records (the response is the text under test)."""
    return [{"id": f"{path.stem}-{i}", "instruction": "How do I do this in Kubernetes?",
             "response": r.get("response") or r.get("text"), "_source": "generated"}
            for i, r in enumerate(_rows(path))]


def _warned(report: dict[str, Any]) -> set[str]:
    return {f["indicator"] for f in report["findings"] if f["level"] == "warning"}


def test_findings_keep_real_smollm2_output_and_flag_gibberish_and_near_copies() -> None:
    real = _report(_answers(CORPORA / "real" / "en" / "smollm2-135m-instruct.jsonl"), _quickstart_context())
    gibberish = _report(_answers(CORPORA / "defective" / "tiny-random-llama.jsonl"), _quickstart_context())
    base = _answers(CORPORA / "real" / "en" / "smollm2-135m-instruct.jsonl")[:3]
    copies = [{**r, "id": f"{r['id']}-{k}", "response": r["response"].replace(" the ", f" the{'e' * k} ", 1)}
              for r in base for k in range(4)]
    near = _report(copies, _quickstart_context())

    assert _warned(real) == set(), real["findings"]
    assert {"stopwordShare", "domain"} <= _warned(gibberish), gibberish["findings"]
    assert {"selfBleu", "repeatedNgram"} <= _warned(near), near["findings"]
    # the numbers behind the verdicts, side by side
    assert real["process"]["stopwordShare"] > 3 * gibberish["process"]["stopwordShare"]
    assert real["domain"]["similarity"]["p50"] > 3 * gibberish["domain"]["similarity"]["p50"]
    assert near["diversity"]["selfBleu"]["value"] > 4 * real["diversity"]["selfBleu"]["value"]
    assert near["diversity"]["distinct2"] < real["diversity"]["distinct2"] / 2
    assert gibberish["domain"]["leastMatching"][0]["similarity"] < build.DOMAIN_THRESHOLD


def test_summary_keys_are_the_status_fields() -> None:
    report = _report(_answers(CORPORA / "real" / "en" / "smollm2-135m-instruct.jsonl"), _quickstart_context())
    summary = build.summary(report)
    fields = {f.alias or name for name, f in QualityStatus.model_fields.items()}
    assert set(summary) | {"reportUri"} == fields
    QualityStatus.model_validate({**summary, "reportUri": "s3://b/p/quality.json"})
    assert summary["warnings"] == 0 and summary["domainSimilarity"] == report["domain"]["similarity"]["p50"]


def test_card_section_and_metadata_render() -> None:
    from datafoundry.publish import card

    report = _report(_answers(CORPORA / "real" / "en" / "smollm2-135m-instruct.jsonl"), _quickstart_context())
    report["plots"] = [{"key": "plots/lengths.png", "title": "Record length by field"}]
    spec = DataFoundryJobSpec.model_validate({**QUICKSTART, "output": {
        **QUICKSTART["output"], "license": "cc-by-4.0"}})
    text = card.render(job_name="qs", spec=spec, plan_spec=QUICKSTART, recipe_hash="0" * 64, uid="u", generation=1,
                       funnel={"generated": 12, "accepted": 12, "rejected": {}}, shards=[{"key": "data/p.jsonl",
                       "records": 12}], generated=12, replay=0, fmt="jsonl", ext="jsonl", quality=report,
                       output_uri="s3://bucket/datasets/qs")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["license"] == "cc-by-4.0" and front["task_categories"] == ["text-generation"]
    assert front["size_categories"] == ["n<1K"] and front["annotations_creators"] == ["machine-generated"]
    assert front["source_datasets"] == ["original"]
    assert "## Quality" in text and "![Record length by field](plots/lengths.png)" in text
    assert 'data_files="s3://bucket/datasets/qs/data/part-*.jsonl"' in text
    assert "### Samples" in text and report["samples"][0]["id"] in text
    # it renders as Markdown: the tables and the picture come out as such (markdown-it, rich's parser)
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text.split("---\n", 2)[2])
    assert sum(t.type == "table_open" for t in tokens) >= 3
    images = [c for t in tokens if t.type == "inline" for c in t.children or [] if c.type == "image"]
    assert [i.attrs["src"] for i in images] == ["plots/lengths.png"]


@pytest.mark.parametrize(("records", "bucket"), [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"),
                                                  (250_000, "100K<n<1M"), (2_000_000_000, "n>1B")])
def test_size_category(records: int, bucket: str) -> None:
    assert markdown.size_category(records) == bucket


def test_novelty_counts_a_paraphrase_of_a_seed_as_a_copy_and_a_new_question_not() -> None:
    paraphrases = [  # the quickstart seeds, reworded
        "How can I see why my pod is stuck in Pending?",
        "What is the difference between the liveness and the readiness probe?",
        "How do I roll back a Deployment to its previous version?",
    ]
    new = [  # real SmolLM2 questions (tests/unit/filters/corpora) and new questions on the domain
        *(r["instruction"] for r in _rows(CORPORA / "real" / "en" / "smollm2-135m-instruct.jsonl")[:5]),
        "Why does a CronJob create two Jobs when the controller restarts?",
        "Which metrics tell me a node is under memory pressure before pods are evicted?",
    ]
    records = [{"id": f"p{i}", "instruction": q, "response": "Use kubectl describe and read the events."}
               for i, q in enumerate(paraphrases + new)]
    # a chat record is judged by its first user turn
    records.append({"id": "chat", "messages": [
        {"role": "system", "content": "You are an SRE assistant."},
        {"role": "user", "content": "How do I limit the memory that a container may use?"},
        {"role": "assistant", "content": "Set resources.limits.memory in the container spec."}]})
    report = _report(records, _quickstart_context())
    novelty = report["novelty"]
    assert novelty["seeds"] == 4 and novelty["records"] == len(records)
    assert novelty["threshold"] == 0.7
    copies = len(paraphrases) + 1
    assert novelty["copiesSeed"] == round(copies / len(records), 4)
    assert novelty["maxRougeLToSeeds"]["max"] >= 0.7 > novelty["maxRougeLToSeeds"]["p50"]
    assert "novelty" in _warned(report), report["findings"]  # more than a fifth restate a seed
    assert "### Novelty against the seeds" in "\n".join(markdown.section(report))

    fresh = _report([r for r in records if r.get("instruction") in new], _quickstart_context())
    assert fresh["novelty"]["copiesSeed"] == 0.0 and fresh["novelty"]["maxRougeLToSeeds"]["max"] < 0.7
    assert "novelty" not in _warned(fresh)


def test_novelty_is_null_without_seeds() -> None:
    records = [{"id": "a", "instruction": "How do I see why a pod is stuck in Pending?", "response": "Describe it."}]
    assert _report(records, ReportContext(seed=1, language="en"))["novelty"] is None
