"""`datafoundry worker publish --round R`: select, mix, write the dataset, the card, then the manifest.

1. The records: the seeded selection of `datafoundry.workers.selection` (candidates toward the target
   and the replay records, each with its `_source`).
2. With spec.evaluation.forgetting, the forgetting guard's result (the evaluate worker's) goes into
   quality.json, the manifest and the card.
3. Shards `data/part-NNNNN.<ext>` (every record carries every column, null where absent), the
   card `README.md`, and last `manifest.json`, which names every object with its sha256.

Atomicity: the manifest is the commit point; nothing names a data object before all exist.
Reruns: data shards and the card are byte-identical (no timestamps in them); only the
manifest's timings differ. Stale `data/` objects of a crashed attempt are removed before
writing. A rerun that finds this job's manifest reports it and writes nothing; a manifest of
another job at the same output is never overwritten (BadInput).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from datafoundry.api.stages import Stage
from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import BadInput, Progress
from datafoundry.pipeline.output_env import output_env
from datafoundry.publish import card, formats
from datafoundry.publish import manifest as mf
from datafoundry.publish.select import interleave
from datafoundry.records.fields import (
    SOURCE_FIELD,
    SOURCE_GENERATED,
    SOURCE_INPUT,
    SOURCE_REPLAY,
    SOURCE_REPLAY_SELF,
)
from datafoundry.report import build as quality
from datafoundry.workers import selection, staging
from datafoundry.workers.common import ProgressReporter, WorkerContext, add_common_arguments, run_worker

log = logging.getLogger("datafoundry.worker.publish")

DATA_PREFIX = "data/"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return run_worker(Stage.PUBLISH, args, publish_dataset)


def _already_published(ctx: WorkerContext, data: bytes) -> Progress:
    try:
        existing = json.loads(data)
        owner = existing.get("job", {})
    except (ValueError, AttributeError) as e:
        raise BadInput(f"{ctx.store.uri(layout.MANIFEST)} exists and is not a manifest: {e}") from e
    if owner.get("uid") != ctx.uid or existing.get("recipeHash") != ctx.plan.recipe_hash:
        raise BadInput(f"{ctx.store.uri(layout.MANIFEST)} belongs to another dataset (job "
                       f"{owner.get('namespace')}/{owner.get('name')} uid {owner.get('uid')}); "
                       "refusing to overwrite it: use a new output uri")
    log.info("this job's manifest already exists; nothing to publish")
    reporter = ProgressReporter(ctx)
    p = reporter.progress
    p.accepted, p.bytes_written = int(existing["records"]), int(existing["bytes"])
    p.manifest_uri, p.sha256 = ctx.store.uri(layout.MANIFEST), hashlib.sha256(data).hexdigest()
    p.decontamination = (existing.get("decontamination") or {}).get("totals")
    return reporter.finish()


def _merge_details(found: list[Any], drops: dict[str, Any]) -> dict[str, Any]:
    """Per filter: drop reasons, modifications and stats summed over shards, plus the global pass."""
    reasons: dict[str, Counter[str]] = {}
    modified: Counter[str] = Counter()
    stats: dict[str, Counter[str]] = {}
    malformed = 0
    for _, _, summary in found:
        funnel = summary.get("funnel", {})
        for name, by_reason in funnel.get("droppedBy", {}).items():
            reasons.setdefault(name, Counter()).update(by_reason)
        modified.update(funnel.get("modifiedBy", {}))
        for name, counts in (summary.get("stats") or {}).items():
            stats.setdefault(name, Counter()).update(counts)
        malformed += int(summary.get("malformed", {}).get("malformed", 0))
    for half, reason in (("exact", "cross_shard_duplicate"), ("nearDup", "near_duplicate")):
        if drops.get(half):
            name = drops[half]["name"]
            # the two halves are disjoint: near-dup clustering skips the exact duplicates
            reasons.setdefault(name, Counter())[reason] += int(drops[half]["duplicates"])
    return {
        "filters": {name: {"dropped": sum(r.values()), "reasons": dict(sorted(r.items())),
                           "modified": int(modified.get(name, 0)), "stats": dict(sorted(stats.get(name, {}).items()))}
                    for name, r in reasons.items()},
        "decontamination": mf.merge_decontamination(summary.get("decontamination") for _, _, summary in found),
        "malformedLines": malformed,
        "dedup": {k: drops.get(k) for k in ("exact", "nearDup")},
    }


def _timings(ctx: WorkerContext, found: list[Any], started: datetime, finished: datetime) -> dict[str, Any]:
    stages: dict[str, Any] = {}
    gens = ([staging.done(ctx.store, ctx.uid, Stage.GENERATE, r, k) for (r, k), _, _ in found]
            if ctx.spec.generator else [])
    filters = [p for _, p, _ in found]
    dedups = [staging.done(ctx.store, ctx.uid, Stage.DEDUP, r, 0) for r in range(ctx.round + 1)]
    spans = [("generate", gens), ("filter", filters), ("dedup", dedups)]
    if ctx.spec.forgetting() is not None:
        spans.append(("evaluate", [staging.done(ctx.store, ctx.uid, Stage.EVALUATE, ctx.round, 0)]))
    for name, progs in spans:
        known = [p for p in progs if p is not None]
        stages[name] = mf.span([p.started_at for p in known], [p.updated_at for p in known])
    stages["publish"] = mf.span([started], [finished])
    return stages


def publish_dataset(ctx: WorkerContext) -> Progress:
    spec, store, seed = ctx.spec, ctx.store, ctx.spec.seed
    started = datetime.now(UTC)
    existing = store.get(layout.MANIFEST)
    if existing is not None:
        return _already_published(ctx, existing)
    env = output_env(spec)
    found = staging.filter_blocks(store, ctx.uid, spec, ctx.round)
    drops = staging.get_json(store, staging.drops_key(ctx.uid, ctx.round))
    dedup_done = staging.done(store, ctx.uid, Stage.DEDUP, ctx.round, 0)
    if drops is None or dedup_done is None:
        raise RuntimeError(f"dedup of round {ctx.round} is not done yet")
    reporter = ProgressReporter(ctx)
    p = reporter.progress
    tag = SOURCE_GENERATED if spec.generator is not None else SOURCE_INPUT
    chosen = selection.select(ctx, env, found, drops, dedup_done)
    generated, replay, replay_info, members = chosen.generated, chosen.replay, chosen.replay_info, chosen.members
    self_replay = spec.replay_generation() is not None
    records = interleave(generated, replay)
    records = formats.conform(records, formats.columns(records))
    fmt, compression = spec.output.format.value, spec.output.compression.value
    schema = None
    if fmt == "parquet" and records:
        try:
            schema = formats.parquet_schema(records)
        except ValueError as e:
            raise BadInput(f"publishing Parquet: {e}") from e
    ext = formats.extension(fmt, compression)
    chunks = list(formats.split(records, spec.output.shard_size_records, spec.output.shard_size_bytes))
    keys = [layout.published_part_key(i, ext) for i in range(len(chunks))]
    for stale in [k for k in store.list(DATA_PREFIX) if k not in keys]:
        store.delete_prefix(stale)  # a crashed attempt's leftovers (no manifest names them)
    p.chunks_total = len(chunks)
    shards = []
    for key, chunk in zip(keys, chunks, strict=True):
        data = formats.encode(chunk, fmt, compression, schema)
        store.put(key, data, formats.content_type(fmt, compression))
        shards.append({"key": key, "records": len(chunk), "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()})
        p.chunks_done += 1
        p.bytes_written += len(data)
        reporter.update()
    replay_tag = SOURCE_REPLAY_SELF if self_replay else SOURCE_REPLAY
    funnel = {"generated": dedup_done.generated, "accepted": dedup_done.accepted,
              "rejected": dict(dedup_done.rejected)}
    strategies = card.generation_rates(dedup_done.strategies) if dedup_done.strategies else None
    job = ctx.plan.job
    details = _merge_details(found, drops)
    forgetting = _forgetting(ctx)
    if details["dedup"].get("nearDup"):  # the example clusters as records, not positions
        near_dup = details["dedup"]["nearDup"] = dict(details["dedup"]["nearDup"])
        near_dup["examples"] = [[members[m] for m in map(tuple, cluster) if m in members]
                                for cluster in near_dup.get("examples") or []]
    report, report_objects = _quality_report(ctx, env, records, details, strategies, p.bytes_written, forgetting,
                                             funnel=quality.funnel(dedup_done.strategies,
                                                                   generated=dedup_done.generated,
                                                                   accepted=dedup_done.accepted,
                                                                   published=len(records)))
    images = mf.images_from_env(env)
    gpu_hours = mf.gpu_hours_from_env(env)
    card_bytes = card.render(job_name=job.name, spec=spec, plan_spec=ctx.plan.spec, recipe_hash=ctx.plan.recipe_hash,
                             uid=ctx.uid, generation=job.generation, funnel=funnel, shards=shards,
                             generated=len(generated), replay=len(replay), fmt=fmt, ext=ext,
                             decontamination=details["decontamination"],
                             strategies=strategies, quality=report, forgetting=forgetting,
                             output_uri=spec.output.uri, images=images, gpu_hours=gpu_hours).encode("utf-8")
    store.put(layout.CARD, card_bytes, "text/markdown; charset=utf-8")
    finished = datetime.now(UTC)
    manifest = {
        "apiVersion": mf.MANIFEST_VERSION,
        "kind": mf.MANIFEST_KIND,
        "job": {"name": job.name, "namespace": job.namespace, "uid": job.uid, "generation": job.generation},
        "recipeHash": ctx.plan.recipe_hash,
        "recipe": ctx.plan.spec,
        "model": spec.generator.model if spec.generator else None,
        "images": images,
        "gpuHours": gpu_hours,
        "seed": seed,
        "format": fmt,
        "compression": compression,
        "sourceField": SOURCE_FIELD,
        "records": len(records),
        "bytes": p.bytes_written,
        "shards": shards,
        "card": {"key": layout.CARD, "bytes": len(card_bytes), "sha256": hashlib.sha256(card_bytes).hexdigest()},
        "quality": report_objects[0],
        "plots": report_objects[1:],
        **({"generation": {"strategies": strategies}} if strategies else {}),
        "funnel": {**funnel, "available": chosen.available,
                   "published": {tag: len(generated), replay_tag: len(replay), "total": len(records)}},
        **details,
        "replay": replay_info,
        **({"evaluation": {"forgetting": forgetting}} if forgetting is not None else {}),
        "rounds": ctx.round + 1,
        "timings": _timings(ctx, found, started, finished),
    }
    data = mf.encode(manifest)
    store.put(layout.MANIFEST, data, "application/json")
    p.accepted = len(records)
    p.accepted_replay = len(replay)
    p.decontamination = details["decontamination"].get("totals")
    p.quality = {**quality.summary(report), "reportUri": store.uri(layout.QUALITY)}
    p.manifest_uri = store.uri(layout.MANIFEST)
    p.sha256 = hashlib.sha256(data).hexdigest()
    return reporter.finish()


def _forgetting(ctx: WorkerContext) -> dict[str, Any] | None:
    """The forgetting guard's result (spec.evaluation.forgetting), which the evaluate worker wrote."""
    if ctx.spec.forgetting() is None:
        return None
    result = staging.get_json(ctx.store, staging.forgetting_key(ctx.uid, ctx.round))
    if result is None:
        raise RuntimeError(f"the forgetting guard's result {ctx.store.uri(staging.forgetting_key(ctx.uid, ctx.round))} "
                           "is missing: the evaluate stage has not run")
    return result


def _quality_report(ctx: WorkerContext, env: dict[str, str], records: list[dict[str, Any]],
                    details: dict[str, Any], strategies: dict[str, Any] | None, data_bytes: int,
                    forgetting: dict[str, Any] | None, funnel: dict[str, Any],
                    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Compute the report, write `quality.json` and its plots; returns the report and the objects
    written (quality.json first), each with key, bytes and sha256 for the manifest."""
    import gc

    from datafoundry.report import job as report_job

    # The published records stay alive to the end: without this, each full collection the report
    # sets off walks all of them (about 2 s at 200k records).
    gc.freeze()
    try:
        report_ctx = report_job.context(ctx.spec, env, details, funnel, strategies)
        builder = quality.ReportBuilder(report_ctx, ordered=True)  # records are in the seeded selection order
        builder.add_many(records)
        report = builder.finish(data_bytes=data_bytes)
        if forgetting is not None:
            report["forgetting"] = forgetting
        objects = quality.objects(report)
    finally:
        gc.unfreeze()
    written: list[dict[str, Any]] = []
    for key, title, data, content_type in objects:
        ctx.store.put(key, data, content_type)
        written.append({"key": key, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                        **({"title": title} if title else {})})
    return report, written
