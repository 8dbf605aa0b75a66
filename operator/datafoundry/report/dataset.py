"""`datafoundry report`: the publish stage's quality report, for any dataset already written.

A published dataset (a prefix with `manifest.json`) gets the same context publish had: the recipe
in the manifest (domain text, seeds, documents, taxonomy, labels, judge threshold), its funnel,
filter drops, near-duplicate clusters and decontamination. Plain JSONL or Parquet gets what the
command line gives (`--domain`, `--language`), and the measures that need nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from datafoundry.pipeline.contract import BadInput
from datafoundry.report.build import ReportBuilder, ReportContext, funnel

log = logging.getLogger("datafoundry.report")

#: Records counted at a time (the builder's column-wise pass), so memory stays bounded.
BATCH = 10_000


def _manifest_context(manifest: Mapping[str, Any], env: Mapping[str, str]) -> ReportContext:
    from datafoundry.api.spec import DataFoundryJobSpec
    from datafoundry.report import job

    spec = DataFoundryJobSpec.model_validate(manifest["recipe"])
    counts = manifest.get("funnel") or {}
    strategies = (manifest.get("generation") or {}).get("strategies")
    summary = funnel(strategies, generated=int(counts.get("generated", 0)), accepted=int(counts.get("accepted", 0)),
                     published=int(manifest.get("records", 0)))
    try:
        return job.context(spec, env, manifest, summary, strategies)
    except (BadInput, OSError) as e:  # seeds or documents moved or unreadable: report without them
        log.warning("the recipe's seeds or documents cannot be read (%s): domain match uses the domain text only", e)
        task = spec.task
        base = job.context(spec.model_copy(update={"task": None}), env, manifest, summary, strategies)
        return replace(base, references=[task.domain] if task else [], reference_sources=["task.domain"],
                       language=task.language if task else base.language)


def report_for(records: Iterable[Mapping[str, Any]], *, manifest: Mapping[str, Any] | None,
               env: Mapping[str, str], domain: str | None = None, language: str | None = None) -> dict[str, Any]:
    """The report of `records`; `domain` replaces the recipe's reference texts, `language` its language."""
    ctx = _manifest_context(manifest, env) if manifest is not None and "recipe" in manifest else ReportContext()
    if domain is not None:
        ctx = replace(ctx, references=[domain], reference_sources=["--domain"])
    if language is not None:
        ctx = replace(ctx, language=language)
    # A published dataset is in its seeded selection order: the same sample as publish took.
    builder = ReportBuilder(ctx, ordered=manifest is not None)
    batch: list[Mapping[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) == BATCH:
            builder.add_many(batch)
            batch = []
    builder.add_many(batch)
    data_bytes = manifest.get("bytes") if manifest is not None else None
    return builder.finish(data_bytes=data_bytes if isinstance(data_bytes, int) else None)
