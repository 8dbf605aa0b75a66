"""`datafoundry worker filter`: the per-record filters of one shard, and its half of global dedup.

Input: the generated parts of `gen/r<RR>/s<KKKKK>/` (after that shard's `_DONE.json`), or in
curation mode (`spec.input`) this shard's share of the input objects: every object of every
input URI, in URI then key order, object `i` going to shard `i % input.shards`.
Output (see `datafoundry.workers.staging`): accepted records as `part-NNNNN.jsonl` of
`PART_RECORDS` records, MinHash band keys + signatures and exact-dedup hashes in part order, a
summary, then `_DONE.json`. A rerun before `_DONE.json` redoes the shard from the start and
writes the same objects (the input is immutable and every step is deterministic).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from datafoundry.api.stages import Stage
from datafoundry.filters import DecontaminationFilter, ExactDedupFilter, FilterChain, MinHashFilter
from datafoundry.filters.minhash import to_npy
from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import BadInput, Progress
from datafoundry.pipeline.output_env import output_env
from datafoundry.records.encode import encode_jsonl
from datafoundry.records.fields import is_self_replay
from datafoundry.records.objects import SourceObject, resolve
from datafoundry.records.read import LineErrors, iter_records
from datafoundry.workers import judging, staging
from datafoundry.workers.common import ProgressReporter, WorkerContext, add_common_arguments, run_worker
from datafoundry.workers.recipe_filters import build_chain, find

PART_RECORDS = 10_000
MALFORMED = "malformed"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return run_worker(Stage.FILTER, args, filter_shard)


def input_objects(ctx: WorkerContext, env: dict[str, str]) -> list[SourceObject]:
    """The objects this shard reads, in order."""
    spec = ctx.spec
    if spec.input is not None:
        everything: list[SourceObject] = []
        for i, uri in enumerate(spec.input.uris):
            found = resolve(uri, env)
            if not found:
                raise BadInput(f"spec.input.uris[{i}] {uri}: not found (no object or prefix with data)")
            everything += found
        return everything[ctx.shard :: spec.input.shards]
    if staging.done(ctx.store, ctx.uid, Stage.GENERATE, ctx.round, ctx.shard) is None:
        raise RuntimeError(f"generation of round {ctx.round} shard {ctx.shard} is not done yet")
    prefix = layout.shard_prefix(ctx.uid, Stage.GENERATE, ctx.round, ctx.shard) + "/"
    keys = [k for k in ctx.store.list(prefix) if k.rsplit("/", 1)[-1].startswith("part-") and ".jsonl" in k]
    return [SourceObject(ctx.store, k, ctx.store.uri(k)) for k in keys]


def _counts(p: Progress, chain: FilterChain, errors: LineErrors, curation: bool, replay_kept: int) -> None:
    funnel = chain.funnel
    p.accepted = funnel.kept - replay_kept
    p.accepted_replay = replay_kept
    p.rejected = {f.name: funnel.dropped_total(f.name) for f in chain.filters}
    if errors.malformed:
        p.rejected[MALFORMED] = errors.malformed
    p.parse_failures = errors.malformed
    if curation:
        p.generated = funnel.seen + errors.malformed


def filter_shard(ctx: WorkerContext) -> Progress:
    spec = ctx.spec
    env = output_env(spec)
    curation = spec.input is not None
    fmt = spec.input.format.value if spec.input is not None else "jsonl"
    text_field = spec.input.text_field if spec.input is not None else "text"
    chain = build_chain(spec, env)
    objects = input_objects(ctx, env)
    reporter = ProgressReporter(ctx)
    p = reporter.progress
    p.chunks_total = len(objects)
    errors = LineErrors()
    parts: list[dict[str, Any]] = []
    buffer: list[dict[str, Any]] = []
    replay: list[int] = []  # indexes, among the accepted records, of self-generated replay records

    def flush() -> None:
        key = layout.part_key(ctx.uid, Stage.FILTER, ctx.round, ctx.shard, len(parts))
        ctx.store.put(key, encode_jsonl(buffer), "application/x-ndjson")
        parts.append({"key": key, "records": len(buffer)})
        buffer.clear()

    # Generated records were scored in the generator pod; curated ones are scored here.
    scorer, judge_engine = judging.scorer(spec, env) if curation else (None, None)
    try:
        for obj in objects:
            records = (record for _, record in iter_records(obj, fmt, errors, text_field))
            for batch in judging.batched(records, judging.CURATION_BATCH):
                for record in scorer.score(batch) if scorer is not None else batch:
                    out = chain.apply(record)
                    if out is not None:
                        if is_self_replay(out):
                            replay.append(chain.funnel.kept - 1)
                        buffer.append(out)
                        if len(buffer) >= PART_RECORDS:
                            flush()
            p.chunks_done += 1
            _counts(p, chain, errors, curation, len(replay))
            reporter.update()
    finally:
        if judge_engine is not None:
            judge_engine.close()
    if buffer:
        flush()
    errors.check(f"filter round {ctx.round} shard {ctx.shard}")
    summary = _write_dedup_inputs(ctx, chain)
    decontam = find(chain, DecontaminationFilter)
    summary.update({
        "parts": parts,
        "records": chain.funnel.kept,
        "replay": replay,
        "funnel": chain.funnel.to_dict(),
        "stats": chain.stats(),
        "decontamination": decontam.report.to_dict() if decontam is not None else None,
        "malformed": errors.to_dict(),
        "inputs": [o.uri for o in objects],
    })
    staging.put_json(ctx.store, staging.filter_key(ctx.uid, ctx.round, ctx.shard, staging.SUMMARY), summary)
    _counts(p, chain, errors, curation, len(replay))
    p.message = errors.summary()
    return reporter.finish()


def _write_dedup_inputs(ctx: WorkerContext, chain: FilterChain) -> dict[str, Any]:
    """Band keys, signatures and exact hashes of the accepted records, for the global pass."""
    out: dict[str, Any] = {"minhash": None, "exactDedup": None}
    minhash = find(chain, MinHashFilter)
    if minhash is not None:
        sigs = minhash.finish()
        ctx.store.put(staging.filter_key(ctx.uid, ctx.round, ctx.shard, staging.MINHASH_KEYS), to_npy(sigs.band_keys))
        assert sigs.signatures is not None
        ctx.store.put(staging.filter_key(ctx.uid, ctx.round, ctx.shard, staging.MINHASH_SIGS),
                      to_npy(sigs.signatures))
        h = minhash.hasher
        out["minhash"] = {"name": minhash.name, "numPerm": h.num_perm, "bands": h.bands, "ngram": h.ngram,
                          "threshold": h.threshold, "records": len(sigs.band_keys)}
    exact = find(chain, ExactDedupFilter)
    if exact is not None:
        hashes = np.asarray(exact.accepted_hashes(), dtype=np.uint64)
        ctx.store.put(staging.filter_key(ctx.uid, ctx.round, ctx.shard, staging.EXACT_HASHES), to_npy(hashes))
        out["exactDedup"] = {"name": exact.name, "records": len(hashes)}
    return out
