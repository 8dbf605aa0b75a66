"""The dataset card (`README.md`): what the dataset is, how it was made, its funnel, use and limits.

Only deterministic facts go in (no timings), so a rerun of publish writes the same card; the
manifest carries the timings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec


def _yaml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _filter_line(f: Mapping[str, Any]) -> str:
    options = ", ".join(f"{k}={v}" for k, v in sorted(f.items()) if k not in ("type", "name"))
    name = f.get("name") or f["type"]
    return f"- `{name}` ({f['type']}{': ' + options if options else ''})"


def render(
    *,
    job_name: str,
    spec: DataFoundryJobSpec,
    plan_spec: Mapping[str, Any],
    recipe_hash: str,
    uid: str,
    generation: int,
    funnel: Mapping[str, Any],
    shards: Sequence[Mapping[str, Any]],
    generated: int,
    replay: int,
    fmt: str,
    ext: str,
) -> str:
    task = spec.task
    language = task.language if task else "unknown"
    total = generated + replay
    loader = "parquet" if fmt == "parquet" else "json"
    lines = [
        "---",
        f"pretty_name: {_yaml_str(job_name)}",
        f"language:\n- {language.split('-')[0]}" if task else "language: []",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        f"    path: data/part-*.{ext}",
        "tags:\n- synthetic\n- datafoundry" if spec.generator else "tags:\n- curated\n- datafoundry",
        "---",
        "",
        f"# {job_name}",
        "",
        "## What",
        "",
    ]
    if task is not None:
        lines += [f"{task.type.value.capitalize()} records for this domain: {task.domain.strip()}", ""]
    if spec.generator is not None:
        lines += [f"Generated with `{spec.generator.model}` by Data Foundry, then filtered hard.", ""]
    else:
        assert spec.input is not None
        lines += ["Curated by Data Foundry from existing records:", ""]
        lines += [f"- `{uri}`" for uri in spec.input.uris] + [""]
    lines += [
        f"{total} records in {len(shards)} {fmt} shard(s): {generated} "
        f"{'generated' if spec.generator else 'curated'} and {replay} replay records.",
        "",
        "## How",
        "",
        "Filters, in order (a record must pass all of them):",
        "",
    ]
    filters = plan_spec.get("filters") or []
    lines += [_filter_line(f) for f in filters] or ["- none"]
    lines += [""]
    replay_spec = spec.mix.replay if spec.mix else None
    if replay_spec is not None:
        lines += [f"Replay: `{replay_spec.uri}` sampled at ratio {replay_spec.ratio} of the published records "
                  f"(seed {spec.seed}); each record's `_source` field says where it came from.", ""]
    lines += [
        "## Funnel",
        "",
        "| step | records |",
        "|---|---:|",
        f"| {'generated' if spec.generator else 'read'} | {funnel.get('generated', 0)} |",
    ]
    for name, n in funnel.get("rejected", {}).items():
        lines.append(f"| rejected by `{name}` | {n} |")
    lines += [
        f"| accepted | {funnel.get('accepted', 0)} |",
        f"| published ({'generated' if spec.generator else 'curated'}) | {generated} |",
        f"| published (replay) | {replay} |",
        "",
        "## Files",
        "",
        "| file | records |",
        "|---|---:|",
    ]
    lines += [f"| `{s['key']}` | {s['records']} |" for s in shards]
    lines += [
        "",
        "Checksums (sha256), sizes, the full recipe and timings are in `manifest.json`.",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{loader}", data_files="<output>/data/part-*.{ext}", split="train")',
        "```",
        "",
        "## Intended use",
        "",
        "Fine-tuning a model for the domain above, mixed with general (replay) data so that it keeps "
        "its earlier abilities. Not for evaluation: it is not a benchmark.",
        "",
        "## Known limits",
        "",
        "- Synthetic records can be fluent and wrong: filters check form, not facts." if spec.generator else
        "- Records are only as good as the input they were curated from: filters check form, not facts.",
        "- PII is found by patterns with checksums (emails, phone numbers, cards, IBANs, IPs...); names, "
        "addresses and free-form identifiers are not detected.",
        "- Decontamination matches word n-grams against the listed evaluation sets only; paraphrased "
        "benchmark items can remain.",
        "- Near-duplicates are found with MinHash LSH: a small fraction of pairs near the threshold is missed.",
        "- Language identification and quality heuristics are statistical and err on short texts.",
        "",
        "## Provenance",
        "",
        f"- recipe sha256: `{recipe_hash}`",
        f"- DataFoundryJob uid `{uid}`, generation {generation}",
        "",
    ]
    return "\n".join(lines)
