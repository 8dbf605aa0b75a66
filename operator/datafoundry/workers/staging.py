"""Staging objects the filter, dedup and publish workers hand to each other (beside `layout`'s).

    filter/r<RR>/s<KKKKK>/part-<NNNNN>.jsonl    accepted records, after per-record filters
    filter/r<RR>/s<KKKKK>/minhash-keys.npy      LSH band keys (records x bands, uint64), part order
    filter/r<RR>/s<KKKKK>/minhash-sigs.npy      MinHash signatures (records x numPerm, uint32)
    filter/r<RR>/s<KKKKK>/exact-hashes.npy      exact-dedup hashes of the accepted records
    filter/r<RR>/s<KKKKK>/summary.json          parts, funnel, filter stats, malformed lines
    dedup/r<RR>/s00000/drops.json               what the global pass drops, per (round, shard)
    eval/r<RR>/s00000/forgetting.json           the forgetting guard's result (spec.evaluation.forgetting)

Each of them is written before the `_DONE.json` of its shard, which is what makes them valid;
`filter_blocks` finds the finished filter shards that dedup and publish both read.
"""

from __future__ import annotations

import json
from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.api.stages import Stage
from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import Progress
from datafoundry.storage import ObjectStore

MINHASH_KEYS = "minhash-keys.npy"
MINHASH_SIGS = "minhash-sigs.npy"
EXACT_HASHES = "exact-hashes.npy"
SUMMARY = "summary.json"
DROPS = "drops.json"
FORGETTING = "forgetting.json"

Block = tuple[int, int]  # (round, shard)
#: A finished filter shard: its (round, shard), its final counts and its summary.
FilterBlock = tuple[Block, Progress, dict[str, Any]]


def filter_key(uid: str, round_: int, shard: int, name: str) -> str:
    return layout.join(layout.shard_prefix(uid, Stage.FILTER, round_, shard), name)


def drops_key(uid: str, round_: int) -> str:
    return layout.join(layout.shard_prefix(uid, Stage.DEDUP, round_, 0), DROPS)


def forgetting_key(uid: str, round_: int) -> str:
    return layout.join(layout.shard_prefix(uid, Stage.EVALUATE, round_, 0), FORGETTING)


def shard_id(round_: int, shard: int) -> str:
    return f"r{round_:02d}/s{shard:05d}"


def get_json(store: ObjectStore, key: str) -> dict[str, Any] | None:
    data = store.get(key)
    return None if data is None else dict(json.loads(data))


def put_json(store: ObjectStore, key: str, value: Any) -> None:
    store.put(key, json.dumps(value, sort_keys=True, separators=(",", ":")).encode(), "application/json")


def done(store: ObjectStore, uid: str, stage: Stage, round_: int, shard: int) -> Progress | None:
    data = store.get(layout.done_key(uid, stage, round_, shard))
    return None if data is None else Progress.model_validate_json(data)


def shards_per_round(spec: DataFoundryJobSpec) -> int:
    if spec.generator is not None:
        return spec.generator.shards
    assert spec.input is not None
    return spec.input.shards


def filter_blocks(store: ObjectStore, uid: str, spec: DataFoundryJobSpec, last_round: int) -> list[FilterBlock]:
    """Every finished filter shard of rounds 0..last_round (round 0 only when curating), in
    (round, shard) order; RuntimeError when one is not done yet."""
    out = []
    rounds = range(last_round + 1) if spec.generator is not None else range(1)
    for r in rounds:
        for k in range(shards_per_round(spec)):
            progress = done(store, uid, Stage.FILTER, r, k)
            summary = get_json(store, filter_key(uid, r, k, SUMMARY))
            if progress is None or summary is None:
                raise RuntimeError(f"filter round {r} shard {k} is not done yet")
            out.append(((r, k), progress, summary))
    return out
