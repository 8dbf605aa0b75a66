"""The dataset card (`README.md`): what the dataset is, how it was made, its funnel, use and limits.

Only deterministic facts go in (no timings), so a rerun of publish writes the same card; the
manifest carries the timings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.pipeline.contract import GENERATOR_PREFIX
from datafoundry.report.markdown import TASK_CATEGORIES, size_category
from datafoundry.report.markdown import section as quality_section
from datafoundry.strategies.pool import POOL_DROPS
from datafoundry.strategies.screens import PARSE_FAILURES, SCREEN_NAMES


def _yaml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _filter_line(f: Mapping[str, Any]) -> str:
    options = ", ".join(f"{k}={v}" for k, v in sorted(f.items()) if k not in ("type", "name"))
    name = f.get("name") or f["type"]
    return f"- `{name}` ({f['type']}{': ' + options if options else ''})"


def _decontamination_lines(report: Mapping[str, Any]) -> list[str]:
    sets: Mapping[str, Mapping[str, int]] = report.get("evalSets") or {}
    n, k = int(report.get("ngram", 13)), int(report.get("minPhraseWords", 5))
    how = (f"Evaluation items of {n} or more words are matched by shared word {n}-grams; "
           "shorter items are matched whole: ")
    if k < n:
        how += (f"{k} to {n - 1} words when a record contains them as one contiguous word sequence (or contains "
                f"each of their fields so, one of them {k} words or more), under {k} words only when whole fields "
                "of the record (or the whole record) equal them")
    else:
        how += "only when whole fields of the record (or the whole record) equal them"
    lines = [
        "## Decontamination",
        "",
        how + ". Words are compared after Unicode normalisation, case folding and dropping punctuation; "
        "items without any word cannot match.",
        "",
        f"| eval set | items | short (< {n} words) | exact-only (< {min(k, n)} words) | empty | matched items "
        "| records dropped |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, c in sets.items():
        cells = [c.get(key, 0) for key in ("items", "shortItems", "exactOnlyItems", "emptyItems", "matchedItems",
                                           "records")]
        escaped = name.replace("|", "\\|")
        lines.append(f"| `{escaped}` | " + " | ".join(str(x) for x in cells) + " |")
    totals = report.get("totals")
    if totals and len(sets) > 1:
        cells = [totals.get(key, 0) for key in ("items", "shortItems", "exactOnlyItems", "emptyItems",
                                                "matchedItems", "records")]
        lines.append("| all | " + " | ".join(str(x) for x in cells) + " |")
    return [*lines, "", "A record matching several eval sets is counted once, for the one it shares most with.", ""]


def generation_rates(strategies: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, Any]]:
    """Per strategy: the counts, plus truncation and parse-failure rates over prompts (the manifest's
    `generation.strategies`)."""
    out: dict[str, dict[str, Any]] = {}
    for name, counts in sorted(strategies.items()):
        prompts = counts.get("prompts", 0)
        parse = sum(n for k, n in counts.items() if k in PARSE_FAILURES)
        out[name] = {**counts,
                     "truncationRate": round(counts.get("truncated", 0) / prompts, 4) if prompts else 0.0,
                     "parseFailureRate": round(parse / prompts, 4) if prompts else 0.0}
    return out


def _generation_lines(strategies: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = ["## Generation", "",
             "Per strategy: prompts sent, records written, and what was dropped before writing: cut by the "
             "token or length limit (truncated), not a valid record (parse failures), and the generator's "
             "screens (`generator.screens`: unfinished answers, non-answers, copies of a seed, answers "
             "given away by the prompt), refusals, Self-Instruct's pool filters (too short or long, "
             "excluded keywords, not text, too similar to the pool), a strategy's own eliminations (an "
             "Evol-Instruct slot whose every evolution was eliminated, an answer of only punctuation) and "
             "preference pairs the judge could not rank (`pair_*`).", "",
             "| strategy | prompts | records | truncated | parse failures | screened out |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, c in sorted(strategies.items()):
        prompts = c.get("prompts", 0)
        parse = sum(n for k, n in c.items() if k in PARSE_FAILURES)
        screened = sum(n for k, n in c.items() if k in SCREEN_NAMES or k in POOL_DROPS)

        def pct(n: int, of: int = prompts) -> str:
            return f"{n} ({100 * n / of:.0f}%)" if of else str(n)

        lines.append(f"| {name} | {prompts} | {c.get('records', 0)} | {pct(c.get('truncated', 0))} | "
                     f"{pct(parse)} | {pct(screened)} |")
    return [*lines, ""]


def forgetting_lines(result: Mapping[str, Any]) -> list[str]:
    """The card's account of the forgetting guard (spec.evaluation.forgetting; quality.json's `forgetting`)."""
    settings, held, before, mix = result["settings"], result["heldOut"], result["before"], result["mix"]
    general = {"generalUri": f"records of `{held.get('generalUri')}`", "replay-self": "self-generated replay records",
               "replay": "replay records"}.get(held["generalSource"], held["generalSource"])
    lines = [
        "## Forgetting guard",
        "",
        f"How much this dataset teaches and how much it makes a model forget: `{result['model']}` was fine-tuned "
        f"with a LoRA adapter (rank {settings['lora']['rank']}, alpha {settings['lora']['alpha']}) for "
        f"{settings['steps']} steps of {settings['batchSize']} examples (learning rate {settings['learningRate']}, "
        f"on {result['device']}), once on a sample of the mix and once on as many domain records without replay. "
        f"The loss (mean negative log-likelihood of the answers' tokens) was measured before and after on "
        f"{held['domain']} held-out domain records and {held['general']} held-out general records ({general}); "
        "none of them was trained on.",
        "",
        "| trained on | records (replay) | answer tokens | domain loss | domain gain | general loss "
        "| general loss change |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| nothing (before) | - | - | {before['domainLoss']} | - | {before['generalLoss']} | - |",
    ]
    for name, label in (("mix", "the mix"), ("domainOnly", "domain records only")):
        run = result.get(name)
        if run is not None:
            lines.append(f"| {label} | {run['records']} ({run['replayRecords']}) | {run['tokens']} | "
                         f"{run['domainLoss']} | {run['domainGainPct']:+}% | {run['generalLoss']} | "
                         f"{run['generalLossIncreasePct']:+}% |")
    lines.append("")
    if "replayBenefitPct" in result:
        lines += [f"Replay changed the general loss increase by {-result['replayBenefitPct']:+} points "
                  f"({mix['generalLossIncreasePct']:+}% with it, {result['domainOnly']['generalLossIncreasePct']:+}% "
                  "without).", ""]
    gate = result.get("gate")
    if gate is not None:
        verdict = "within" if gate["passed"] else "BEYOND"
        lines += [f"Gate: the general loss may rise by at most {gate['maxGeneralLossIncreasePct']}% "
                  f"(action {gate['action']}); this mix is {verdict} it.", ""]
    lines += ["A short fine-tune of a reference model is a proxy: it shows the direction and rough size of the "
              "effect, not what a full fine-tune of another model will do.", ""]
    return lines


def _metadata(job_name: str, spec: DataFoundryJobSpec, records: int, ext: str) -> list[str]:
    """Hugging Face dataset-card metadata (YAML front matter)."""
    task = spec.task
    lines = [f"pretty_name: {_yaml_str(job_name)}"]
    if spec.output.license:
        lines.append(f"license: {spec.output.license}")
    lines.append(f"language:\n- {task.language.split('-')[0]}" if task else "language: []")
    if task is not None:
        lines += ["task_categories:", *(f"- {c}" for c in TASK_CATEGORIES[task.type.value])]
    lines += ["size_categories:", f"- {size_category(records)}"]
    if spec.generator is not None:
        lines += ["annotations_creators:", "- machine-generated", "language_creators:", "- machine-generated"]
    sources = [f"- {_yaml_str(u)}" for u in (spec.input.uris if spec.input else [])]
    if spec.mix is not None and spec.mix.replay is not None and spec.mix.replay.uri is not None:
        sources.append(f"- {_yaml_str(spec.mix.replay.uri)}")
    lines += ["source_datasets:", *(sources or ["- original"])]
    lines += ["configs:", "- config_name: default", "  data_files:", "  - split: train", f"    path: data/part-*.{ext}"]
    lines.append("tags:\n- synthetic\n- datafoundry" if spec.generator else "tags:\n- curated\n- datafoundry")
    return lines


def _loading_snippet(loader: str, ext: str, output_uri: str | None, endpoint: str | None) -> list[str]:
    """How to load the data from where it was published (the real URI; S3 options when needed)."""
    where = (output_uri or "<output>").rstrip("/")
    if where.startswith("file://"):
        where = where.removeprefix("file://")
    lines = ["```python", "from datasets import load_dataset", ""]
    if where.startswith("s3://"):
        options = f'{{"client_kwargs": {{"endpoint_url": "{endpoint}"}}}}' if endpoint else "{}"
        lines += [f"storage_options = {options}  # plus credentials, as for any s3fs client",
                  f'ds = load_dataset("{loader}", data_files="{where}/data/part-*.{ext}", split="train",',
                  "                  storage_options=storage_options)"]
    else:
        lines.append(f'ds = load_dataset("{loader}", data_files="{where}/data/part-*.{ext}", split="train")')
    return [*lines, "```"]


def image_line(images: Mapping[str, str]) -> str:
    """The Provenance line naming the images that ran the job (digests when the operator had them)."""
    if not images:
        return "- images: not recorded (run outside the operator, e.g. `datafoundry run`)"
    return "- images: " + ", ".join(f"{role} `{ref}`" for role, ref in images.items())


def gpu_line(gpu_hours: float | None) -> list[str]:
    """The Provenance line with the generator pods' GPU-hours, when the operator counted them."""
    if gpu_hours is None:
        return []
    return [f"- GPU-hours of the generator pods: {gpu_hours:.4g} (GPUs x the time each pod held them, retries "
            "included)"]


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
    decontamination: Mapping[str, Any] | None = None,
    strategies: Mapping[str, Mapping[str, Any]] | None = None,
    quality: Mapping[str, Any] | None = None,
    output_uri: str | None = None,
    images: Mapping[str, str] | None = None,
    gpu_hours: float | None = None,
    forgetting: Mapping[str, Any] | None = None,
) -> str:
    task = spec.task
    total = generated + replay
    loader = "parquet" if fmt == "parquet" else "json"
    lines = ["---", *_metadata(job_name, spec, total, ext), "---", ""]
    lines += [
        f"# {job_name}",
        "",
        "## What",
        "",
    ]
    if task is not None:
        lines += [f"{task.type.value.capitalize()} records for this domain: {task.domain.strip()}", ""]
    if spec.generator is not None:
        lines += [f"Generated with `{spec.generator.model}` by Data Foundry: each record screened as it was "
                  "written, then run through the filters below; the funnel says what each step removed.", ""]
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
        amount = (f"at ratio {replay_spec.ratio} of the published records" if replay_spec.ratio is not None
                  else f"{replay_spec.records} records")
        if replay_spec.generate is not None:
            lines += [f"Replay: written by the generator model itself, {amount} (`_source: replay-self`): "
                      "after a general assistant's system turn the model wrote a user's request in its own chat "
                      "template and answered it without the task's instructions (self-generated rehearsal, "
                      "Magpie-style); these records passed the same filters. Each record's `_source` field says "
                      "where it came from.", ""]
        else:
            lines += [f"Replay: `{replay_spec.uri}` sampled {amount} (seed {spec.seed}); each record's `_source` "
                      "field says where it came from.", ""]
    rejected = funnel.get("rejected", {})
    lines += ["## Funnel", "", "| step | records |", "|---|---:|"]
    if strategies:
        lines.append(f"| prompts | {sum(c.get('prompts', 0) for c in strategies.values())} |")
        lines += [f"| dropped at generation: `{name.removeprefix(GENERATOR_PREFIX)}` | {n} |"
                  for name, n in rejected.items() if name.startswith(GENERATOR_PREFIX)]
    lines.append(f"| {'generated' if spec.generator else 'read'} | {funnel.get('generated', 0)} |")
    for name, n in rejected.items():
        if not name.startswith(GENERATOR_PREFIX):
            lines.append(f"| rejected by `{name}` | {n} |")
    lines += [
        f"| accepted | {funnel.get('accepted', 0)} |",
        f"| published ({'generated' if spec.generator else 'curated'}) | {generated} |",
        f"| published (replay) | {replay} |",
        "",
    ]
    if strategies:
        lines += _generation_lines(strategies)
    if decontamination and "evalSets" in decontamination:
        lines += _decontamination_lines(decontamination)
    if quality is not None:
        lines += quality_section(quality)
    if forgetting is not None:
        lines += forgetting_lines(forgetting)
    lines += [
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
        *_loading_snippet(loader, ext, output_uri, spec.output.endpoint_url),
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
        "- PII is found by patterns, checked by checksums or dates where the format has them (emails, phone "
        "numbers, cards, IBANs, IPs, Korean RRNs...); names, addresses and free-form identifiers are not detected.",
        "- Decontamination matches word n-grams and whole short items against the listed evaluation sets only; "
        "paraphrased benchmark items can remain.",
        "- Near-duplicates are found with MinHash LSH: a small fraction of pairs near the threshold is missed.",
        "- Language identification and quality heuristics are statistical and err on short texts.",
        "",
        "## Provenance",
        "",
        f"- recipe sha256: `{recipe_hash}`",
        f"- DataFoundryJob uid `{uid}`, generation {generation}",
        image_line(images or {}),
        *gpu_line(gpu_hours),
        "",
    ]
    return "\n".join(lines)
