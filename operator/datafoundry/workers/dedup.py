"""`datafoundry worker dedup --round R`: the global exact + near-duplicate pass over rounds 0..R.

Every filter shard of every round so far is one block, in (round, shard) order. Exact hashes
are deduplicated across blocks first (each hash survives at its lowest (round, shard, index));
then MinHash band keys of the survivors are clustered (records sharing a band key, verified by
their signatures' estimated Jaccard >= the filter's threshold) and each cluster keeps its lowest
(round, shard, index). Earlier rounds therefore keep their records when a top-up round adds more.
The drop list goes to `dedup/r<RR>/s00000/drops.json`; the final Progress is cumulative.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import numpy.typing as npt

from datafoundry.api.stages import Stage
from datafoundry.filters import ShardSignatures, cluster_duplicates, cross_shard_duplicates
from datafoundry.filters.minhash import from_npy
from datafoundry.pipeline.contract import Progress, add_strategy_counts
from datafoundry.workers import staging
from datafoundry.workers.common import ProgressReporter, WorkerContext, add_common_arguments, run_worker
from datafoundry.workers.staging import Block, FilterBlock, filter_blocks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return run_worker(Stage.DEDUP, args, dedup_rounds)


def _load(ctx: WorkerContext, block: Block, name: str) -> npt.NDArray[Any]:
    data = ctx.store.get(staging.filter_key(ctx.uid, block[0], block[1], name))
    if data is None:
        raise RuntimeError(f"filter {staging.shard_id(*block)}: {name} is missing")
    return from_npy(data)


def global_drops(ctx: WorkerContext, found: list[FilterBlock]) -> dict[str, Any]:
    """Indices to drop per block, and what each half of the pass found."""
    drops: dict[int, set[int]] = {i: set() for i in range(len(found))}
    report: dict[str, Any] = {"exact": None, "nearDup": None}
    exact = [(i, s["exactDedup"]) for i, (_, _, s) in enumerate(found) if s.get("exactDedup")]
    if exact:
        arrays = {i: _load(ctx, found[i][0], staging.EXACT_HASHES) for i, _ in exact}
        exact_drops = cross_shard_duplicates(arrays)
        for i, idx in exact_drops.items():
            drops[i].update(int(x) for x in idx)
        report["exact"] = {"name": exact[0][1]["name"], "duplicates": sum(len(v) for v in exact_drops.values())}
    near = [(i, s["minhash"]) for i, (_, _, s) in enumerate(found) if s.get("minhash")]
    if near:
        params = near[0][1]
        shards: dict[int, ShardSignatures] = {}
        for i, _ in near:
            keys = np.array(_load(ctx, found[i][0], staging.MINHASH_KEYS), dtype=np.uint64)
            if drops[i]:
                keys[sorted(drops[i])] = 0  # exact duplicates already go: they must not bridge clusters
            sigs = np.asarray(_load(ctx, found[i][0], staging.MINHASH_SIGS), dtype=np.uint32)
            shards[i] = ShardSignatures(band_keys=keys, signatures=sigs)
        result = cluster_duplicates(shards, verify_threshold=float(params["threshold"]))
        for i, idx in result.drop.items():
            drops[i].update(int(x) for x in idx)
        report["nearDup"] = {"name": params["name"], "duplicates": result.duplicates, "clusters": result.clusters,
                             "clusterSizes": {str(k): v for k, v in sorted(result.cluster_sizes.items())},
                             "threshold": params["threshold"], "numPerm": params["numPerm"],
                             "bands": params["bands"],
                             "examples": [[[staging.shard_id(*found[i][0]), index] for i, index in cluster]
                                          for cluster in result.examples]}
    report["drops"] = {staging.shard_id(*found[i][0]): sorted(d) for i, d in drops.items() if d}
    return report


def dedup_rounds(ctx: WorkerContext) -> Progress:
    reporter = ProgressReporter(ctx)
    p = reporter.progress
    found = filter_blocks(ctx.store, ctx.uid, ctx.spec, ctx.round)
    p.chunks_total = len(found)
    for (r, k), fp, _ in found:
        p.accepted += fp.accepted
        p.accepted_replay += fp.accepted_replay
        for name, n in fp.rejected.items():
            p.rejected[name] = p.rejected.get(name, 0) + n
        if ctx.spec.generator is not None:
            gen = staging.done(ctx.store, ctx.uid, Stage.GENERATE, r, k)
            if gen is None:
                raise RuntimeError(f"generation round {r} shard {k} has no _DONE.json")
            p.generated += gen.generated
            p.prompt_tokens += gen.prompt_tokens
            p.completion_tokens += gen.completion_tokens
            for name, n in gen.rejected.items():
                p.rejected[name] = p.rejected.get(name, 0) + n
            p.strategies = add_strategy_counts(p.strategies or {}, gen.strategies or {})
        else:
            p.generated += fp.generated
    reporter.update()
    report = global_drops(ctx, found)
    exact_n = report["exact"]["duplicates"] if report["exact"] else 0
    if report["exact"]:
        name = report["exact"]["name"]
        p.rejected[name] = p.rejected.get(name, 0) + exact_n
    near_n = 0
    if report["nearDup"]:
        name = report["nearDup"]["name"]
        total = sum(len(v) for v in report["drops"].values())
        near_n = total - exact_n
        p.rejected[name] = p.rejected.get(name, 0) + near_n
    replay_dropped = sum(len(set(summary.get("replay") or ()) & set(report["drops"].get(staging.shard_id(*b), ())))
                         for b, _, summary in found)
    p.accepted -= exact_n + near_n - replay_dropped
    p.accepted_replay -= replay_dropped
    report.update({"round": ctx.round, "blocks": [staging.shard_id(*b) for b, _, _ in found],
                   "accepted": p.accepted, "acceptedReplay": p.accepted_replay})
    staging.put_json(ctx.store, staging.drops_key(ctx.uid, ctx.round), report)
    p.chunks_done = len(found)
    return reporter.finish()
