"""The card's quality section and Hugging Face card metadata, from a report (pure functions)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: Hugging Face `task_categories` per task type.
TASK_CATEGORIES = {
    "instruction": ["text-generation"],
    "qa": ["question-answering", "text-generation"],
    "dialogue": ["text-generation"],
    "preference": ["text-generation"],
    "classification": ["text-classification"],
}
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))


def size_category(records: int) -> str:
    """Hugging Face `size_categories` bucket."""
    return next((name for bound, name in _SIZES if records < bound), "n>1B")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _dist(d: Mapping[str, Any] | None) -> str:
    if not d:
        return "n/a"
    return " / ".join(_num(d[k], 0) for k in ("min", "p10", "p50", "p90", "max"))


def section(report: Mapping[str, Any]) -> list[str]:
    """`## Quality`: the findings, then each group of indicators with how to read it."""
    size, sample = report["size"], report["sample"]
    lines = ["## Quality", ""]
    lines += [f"- **{f['level']}** ({f['indicator']}): {f['message']}" for f in report["findings"]]
    lines += ["", f"Computed when publishing, over all {size['records']} records for sizes and coverage, and over "
              f"a sample of {sample['records']} records (chosen with seed {sample['seed']}) for diversity, domain "
              "match and languages. All numbers are in `quality.json`.", ""]
    tokens = size["tokens"]
    how = f"with the generator's tokenizer `{tokens['tokenizer']}`" if tokens["method"] == "tokenizer" else \
        "estimated as words plus punctuation marks (no tokenizer at hand)"
    lines += ["### Size", "", f"{size['records']} records, {size['characters']} characters, about "
              f"{tokens['total']} tokens ({how}, measured on the sample and scaled)"
              + (f", {size['bytes']} bytes of data" if size.get("bytes") is not None else "") + ".", "",
              "| field | records | characters min / p10 / p50 / p90 / max "
              "| tokens (sample) min / p10 / p50 / p90 / max |",
              "|---|---:|---|---|"]
    for name, f in report["fields"].items():
        lines.append(f"| `{_cell(name)}` | {f['records']} | {_dist(f['chars'])} | {_dist(f['tokens'])} |")
    d = report["diversity"]
    lines += ["", "### Diversity", "",
              "| indicator | value | how to read it |", "|---|---:|---|",
              f"| distinct-1 / 2 / 3 | {_num(d['distinct1'])} / {_num(d['distinct2'])} / {_num(d['distinct3'])} | "
              "unique word n-grams over all n-grams of the sample; higher is more varied (it falls as the sample "
              "grows, so compare samples of one size) |",
              f"| compression ratio | {_num(d['compressionRatio'])} | text bytes over gzip bytes; higher means more "
              "repetitive (English prose is about 2.5-3.5) |",
              f"| records repeating a {d['repeatedNgram']['n']}-word phrase of another | "
              f"{_num(d['repeatedNgram']['share'])} | share of the sample; templated or copied text raises it |",
              f"| Self-BLEU-4 | {_num(d['selfBleu']['value'])} | each of {d['selfBleu']['sample']} records scored "
              "against the others; 0 is all different, 1 all the same |", ""]
    domain = report.get("domain")
    if domain:
        lines += ["### Domain match", "",
                  "Cosine similarity of each sampled record to the job's domain profile (TF-IDF of words and word "
                  f"pairs over: {', '.join(domain['reference'])}). Higher is closer; under {domain['threshold']} "
                  "the record barely shares vocabulary with the domain.", "",
                  f"- similarity min / p10 / p50 / p90 / max: {_dist_float(domain['similarity'])}",
                  f"- under the threshold: {_num(domain['belowThreshold'])} of the sample", "",
                  "Least matching records:", ""]
        lines += [f"- `{_cell(r['id'])}` ({_num(r['similarity'])}): {_cell(r['text'])}"
                  for r in domain["leastMatching"]]
        lines.append("")
    novelty = report.get("novelty")
    if novelty:
        lines += ["### Novelty against the seeds", "",
                  f"Each sampled prompt's highest ROUGE-L F1 with the prompt of one of the {novelty['seeds']} seeds "
                  f"({novelty['records']} prompts). At {novelty['threshold']} or more the prompt restates a seed "
                  "(the Self-Instruct novelty test).", "",
                  f"- max ROUGE-L min / p10 / p50 / p90 / max: {_dist_float(novelty['maxRougeLToSeeds'])}",
                  f"- restating a seed: {_num(novelty['copiesSeed'])} of the sampled prompts", ""]
    lines += _coverage_lines(report["coverage"])
    scores = report.get("scores") or {}
    if judge := scores.get("judge"):
        lines += ["### Judge scores", "", f"Mean {_num(judge['mean'], 2)}, threshold {judge['threshold']}.", "",
                  "| score | " + " | ".join(judge["histogram"]) + " |",
                  "|---" * (len(judge["histogram"]) + 1) + "|",
                  "| records | " + " | ".join(str(v) for v in judge["histogram"].values()) + " |", ""]
    if margin := scores.get("preferenceMargin"):
        lines += ["### Preference margins", "",
                  "How many points (0..10) the judge scored each pair's chosen response above its rejected one.", "",
                  f"- margin min / p10 / p50 / p90 / max: {_dist(margin)}, mean {_num(margin['mean'], 2)}", ""]
    lines += _process_lines(report["process"])
    if report.get("plots"):
        lines += ["### Pictures", ""] + [f"![{p['title']}]({p['key']})" for p in report["plots"]] + [""]
    if report.get("samples"):
        lines += ["### Samples", "", "Five records drawn with the job's seed (as published, after redaction):", ""]
        for record in report["samples"]:
            lines += ["```json", json.dumps(record, ensure_ascii=False, indent=1)[:3000], "```", ""]
    return lines


def _dist_float(d: Mapping[str, Any] | None) -> str:
    return " / ".join(_num(d[k]) for k in ("min", "p10", "p50", "p90", "max")) if d else "n/a"


def _coverage_lines(coverage: Mapping[str, Any]) -> list[str]:
    lines = ["### Coverage", ""]
    if coverage.get("strategies"):
        lines.append("Records per strategy: " + ", ".join(f"{k} {v}" for k, v in coverage["strategies"].items()) + ".")
    taxonomy = coverage.get("taxonomy")
    if taxonomy:
        lines += ["", "| taxonomy node | records |", "|---|---:|"]
        lines += [f"| {_cell(n)} | {c} |" for n, c in taxonomy["nodes"].items()]
        if taxonomy["empty"]:
            lines += ["", "Nodes with no record: " + ", ".join(taxonomy["empty"]) + "."]
    labels = coverage.get("labels")
    if labels:
        lines += ["", f"Labels (`{labels['field']}`): " + ", ".join(f"{k} {v}" for k, v in labels["counts"].items())
                  + f"; balance {_num(labels['balance'])} (normalised entropy: 1 is even, 0 is one label)."]
    if coverage.get("turns"):
        lines += ["", f"Turns per dialogue min / p10 / p50 / p90 / max: {_dist(coverage['turns'])}."]
    return [*lines, ""]


def _process_lines(process: Mapping[str, Any]) -> list[str]:
    lines = ["### Process", ""]
    if process.get("languages"):
        lines.append("- languages detected (sample): "
                     + ", ".join(f"{k} {v:.0%}" for k, v in process["languages"].items()))
    if process.get("stopwordShare") is not None:
        lines.append(f"- stop-word share: {_num(process['stopwordShare'])} (natural prose has 0.3-0.5; "
                     "gibberish and lists of keywords much less)")
    for name, s in (process.get("strategies") or {}).items():
        lines.append(f"- `{name}`: truncation rate {_num(s['truncationRate'])}, parse-failure rate "
                     f"{_num(s['parseFailureRate'])}")
    for name, reasons in (process.get("drops") or {}).items():
        lines.append(f"- dropped by `{name}`: " + ", ".join(f"{k} {v}" for k, v in reasons.items()))
    if process.get("pii"):
        lines.append("- PII found: " + ", ".join(f"{k} {v}" for k, v in process["pii"].items()))
    if process.get("decontamination"):
        lines.append("- eval-set matches dropped: "
                     + ", ".join(f"{_cell(k)} {v}" for k, v in process["decontamination"].items()))
    lines.append(f"- replay share: {_num(process.get('replayShare'))}")
    near = process.get("nearDuplicates")
    if near:
        lines.append(f"- near-duplicate clusters: {near.get('clusters', 0)} ({near.get('duplicates', 0)} records "
                     "dropped, one kept per cluster)")
        for i, cluster in enumerate(near.get("examples") or [], 1):
            lines.append(f"  - cluster {i}: " + " | ".join(
                f"{'kept' if m.get('kept') else 'dropped'} `{_cell(m['id'])}`: {_cell(m['text'][:160])}"
                for m in cluster))
    return [*lines, ""]
