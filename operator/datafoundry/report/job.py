"""A report's context from a job: its spec (domain text, seeds, documents, taxonomy, labels, judge) and
the manifest's process details (funnel, filters, dedup, decontamination). Reads seeds and documents."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec, FilterType, TaskType
from datafoundry.filters.base import text_of
from datafoundry.report.build import MAX_NOVELTY_SEEDS, MAX_REFERENCES, ReportContext, prompt_text

log = logging.getLogger("datafoundry.report")


def references(spec: DataFoundryJobSpec, env: Mapping[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(reference texts, what they are, the seeds' prompts): the references for domain match are the
    domain text, the seeds, document chunks; the prompts (at most `MAX_NOVELTY_SEEDS`) for novelty."""
    from datafoundry.strategies.inputs import load_chunks, load_seeds

    task = spec.task
    if task is None:
        return [], [], []
    texts, sources = [task.domain], ["task.domain"]
    seeds = load_seeds(task.seeds, env)
    prompts = [p for s in seeds if (p := prompt_text(s.data)) is not None][:MAX_NOVELTY_SEEDS]
    if seeds:
        texts += [text_of(s.data) for s in seeds]
        sources.append(f"task.seeds ({len(seeds)})")
    if task.documents is not None:
        chunks = load_chunks(task.documents, spec.seed, env)[: MAX_REFERENCES - len(texts)]
        texts += [c.text for c in chunks]
        sources.append(f"task.documents ({len(chunks)} chunks)")
    if task.taxonomy:
        texts += [" ".join([t.name, t.description or "", *(t.subtopics or [])]) for t in task.taxonomy]
        sources.append(f"task.taxonomy ({len(task.taxonomy)} topics)")
    return texts, sources, prompts


def tokenizer_for(model: str | None) -> tuple[Callable[[str], int] | None, str | None]:
    """The generator's tokenizer when its files are here (a local model directory), else none."""
    if not model or not (Path(model) / "tokenizer.json").is_file():
        return None, None
    try:
        from tokenizers import Tokenizer
    except ImportError:
        return None, None
    tok = Tokenizer.from_file(str(Path(model) / "tokenizer.json"))
    return (lambda text: len(tok.encode(text, add_special_tokens=False).ids)), Path(model).name


def context(spec: DataFoundryJobSpec, env: Mapping[str, str], details: Mapping[str, Any],
            funnel: Mapping[str, Any] | None, strategies: Mapping[str, Mapping[str, Any]] | None) -> ReportContext:
    """`details`: the manifest's `filters`, `dedup` and `decontamination` (see the publish worker)."""
    texts, sources, seed_prompts = references(spec, env)
    task = spec.task
    types = {f.name or f.type.value: f.type.value for f in spec.filters or []}
    judge = next((f for f in spec.filters or [] if f.type == FilterType.JUDGE), None)
    filters = {name: {**f, "type": types.get(name, name)} for name, f in (details.get("filters") or {}).items()}
    classification = task is not None and task.type == TaskType.CLASSIFICATION
    tokenizer, tokenizer_name = tokenizer_for(spec.generator.model if spec.generator else None)
    return ReportContext(
        seed=spec.seed,
        language=task.language if task is not None else _filter_language(spec),
        references=texts,
        reference_sources=sources,
        taxonomy=[(t.name, list(t.subtopics or [])) for t in (task.taxonomy or [])] if task else (),
        label_field="label" if classification else None,
        labels=[lab.name for lab in (task.labels or [])] if task and classification else (),
        judge_threshold=getattr(judge, "min_score", None),
        funnel=funnel,
        strategies=strategies,
        filters=filters,
        near_duplicates=(details.get("dedup") or {}).get("nearDup"),
        decontamination=details.get("decontamination"),
        tokenizer=tokenizer,
        tokenizer_name=tokenizer_name,
        seed_prompts=seed_prompts,
    )


def _filter_language(spec: DataFoundryJobSpec) -> str | None:
    """A curation job's language: the first one its language filter keeps."""
    for f in spec.filters or []:
        if f.type == FilterType.LANGUAGE:
            langs = getattr(f, "languages", None) or []
            return str(langs[0]) if langs else None
    return None
