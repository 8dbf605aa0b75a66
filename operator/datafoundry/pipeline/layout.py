"""Where every object of a job lives, relative to the job's output URI.

    <output>/_staging/<uid>/plan.json
    <output>/_staging/<uid>/gen/r<RR>/s<KKKKK>/part-<NNNNN>.jsonl     immutable, one per finished chunk
    <output>/_staging/<uid>/gen/r<RR>/s<KKKKK>/checkpoint.json        last finished chunk
    <output>/_staging/<uid>/gen/r<RR>/s<KKKKK>/_DONE.json             final counts of the shard
    <output>/_staging/<uid>/filter/r<RR>/s<KKKKK>/...                 same shape for the filter stage
    <output>/_staging/<uid>/_progress/gen-r<RR>-s<KKKKK>.json        small, rewritten at a bounded rate
    <output>/data/part-<NNNNN>.<ext>                                  published shards
    <output>/README.md, <output>/manifest.json                        written last, manifest last of all

Stages appear in keys by their `Stage.short` name (`gen`, `filter`, `dedup`, `publish`).
Everything under `_staging/<uid>/` belongs to one job object and is removed by its finalizer;
the published objects are kept.
"""

from __future__ import annotations

from datafoundry.api.stages import Stage

STAGING = "_staging"
PROGRESS = "_progress"
DONE = "_DONE.json"
CHECKPOINT = "checkpoint.json"
MANIFEST = "manifest.json"
CARD = "README.md"
QUALITY = "quality.json"


def join(*parts: str) -> str:
    """Join key parts with single slashes (object keys, not filesystem paths)."""
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def staging_prefix(uid: str) -> str:
    return join(STAGING, uid)


def shard_prefix(uid: str, stage: Stage, round_: int, shard: int) -> str:
    return join(staging_prefix(uid), stage.short, f"r{round_:02d}", f"s{shard:05d}")


def part_key(uid: str, stage: Stage, round_: int, shard: int, chunk: int, ext: str = "jsonl") -> str:
    return join(shard_prefix(uid, stage, round_, shard), f"part-{chunk:05d}.{ext}")


def checkpoint_key(uid: str, stage: Stage, round_: int, shard: int) -> str:
    return join(shard_prefix(uid, stage, round_, shard), CHECKPOINT)


def done_key(uid: str, stage: Stage, round_: int, shard: int) -> str:
    return join(shard_prefix(uid, stage, round_, shard), DONE)


def progress_prefix(uid: str) -> str:
    return join(staging_prefix(uid), PROGRESS)


def progress_key(uid: str, stage: Stage, round_: int, shard: int) -> str:
    return join(progress_prefix(uid), f"{stage.short}-r{round_:02d}-s{shard:05d}.json")


def plan_key(uid: str) -> str:
    return join(staging_prefix(uid), "plan.json")


def published_part_key(index: int, ext: str) -> str:
    return join("data", f"part-{index:05d}.{ext}")
