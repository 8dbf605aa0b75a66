"""The resolved plan of a job: what the workers read, and the arithmetic of rounds and shards.

The plan is written once per job object (a ConfigMap the job owns, mounted into every worker
pod) and never changes: the recipe is immutable once the job has started. How many records a
round asks for is decided by the operator from what earlier rounds accepted and is passed to
that round's pods as an argument, so the plan stays the same for every round.
"""

from __future__ import annotations

import hashlib
import json
import math
from fractions import Fraction
from typing import Any

from pydantic import Field

from datafoundry.api import CamelModel
from datafoundry.api.spec import DataFoundryJobSpec, Replay

PLAN_VERSION = 1

# Spec fields that decide when and where a job runs, not what it produces: they are left out of
# the recipe hash, so suspending or requeueing a job does not make it a different dataset.
NON_RECIPE_FIELDS = frozenset(
    {"suspend", "queueName", "priorityClassName", "ttlSecondsAfterFinished", "activeDeadlineSeconds"}
)


class JobRef(CamelModel):
    """The job a plan was made for."""

    name: str
    namespace: str
    uid: str
    generation: int = 1


class Plan(CamelModel):
    """Everything a worker needs besides its stage, round, shard and credentials."""

    version: int = PLAN_VERSION
    job: JobRef
    recipe_hash: str
    spec: dict[str, Any] = Field(description="The job's spec as applied (camelCase), defaults filled in.")

    def to_json(self) -> str:
        return json.dumps(self.model_dump(by_alias=True, mode="json"), sort_keys=True, indent=1)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def recipe_hash(spec: dict[str, Any]) -> str:
    """sha256 of the parts of the spec that decide the dataset (camelCase keys)."""
    recipe = {k: v for k, v in spec.items() if k not in NON_RECIPE_FIELDS}
    return hashlib.sha256(canonical_json(recipe).encode()).hexdigest()


def build_plan(job: JobRef, spec: dict[str, Any]) -> Plan:
    return Plan(job=job, recipe_hash=recipe_hash(spec), spec=spec)


def shard_share(total: int, shards: int, shard: int) -> int:
    """Records shard `shard` of `shards` produces when a round asks for `total` (spread evenly)."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} out of range 0..{shards - 1}")
    base, extra = divmod(total, shards)
    return base + (1 if shard < extra else 0)


def first_round_records(target: int, overgenerate: float) -> int:
    """Records to generate in round 0: the target scaled by the expected acceptance."""
    return max(target, math.ceil(target * overgenerate))


def top_up_records(target: int, accepted: int, generated: int, overgenerate: float) -> int:
    """Records to generate in the next round, from the acceptance rate seen so far.

    Returns 0 when the target is met. With nothing accepted yet the rate is unknown, so the
    round is as large as the first one (never unbounded).
    """
    missing = target - accepted
    if missing <= 0:
        return 0
    if accepted == 0 or generated == 0:
        return first_round_records(target, overgenerate)
    rate = accepted / generated
    # 10% headroom over the observed rate so one more round usually suffices.
    return max(1, math.ceil(missing / rate * 1.1))


def replay_wanted(replay: Replay, published: int) -> int:
    """Replay records published beside `published` generated ones: `mix.replay.records`, or as many as
    make them `mix.replay.ratio` of the dataset (within one record)."""
    if replay.records is not None:
        return replay.records
    ratio = replay.ratio or 0.0
    if ratio <= 0.0 or published <= 0:
        return 0
    return math.floor(published * ratio / (1.0 - ratio) + 0.5)


def replay_target(spec: DataFoundryJobSpec) -> int:
    """Self-generated replay records (`mix.replay.generate`) the job needs accepted; 0 without them."""
    replay = spec.mix.replay if spec.mix is not None else None
    if replay is None or replay.generate is None:
        return 0
    return replay_wanted(replay, spec.target.records)


#: The replay share of the generator's schedule is a fraction with at most this denominator.
REPLAY_SHARE_DENOMINATOR = 100


def replay_share(spec: DataFoundryJobSpec) -> Fraction:
    """The share of generated records that are self-generated replay: as many as the target needs beside
    the domain records (its proportion rounded to a hundredth, at least one hundredth when any are wanted)."""
    wanted = replay_target(spec)
    if wanted == 0:
        return Fraction(0)
    share = Fraction(wanted, spec.target.records + wanted).limit_denominator(REPLAY_SHARE_DENOMINATOR)
    return min(max(share, Fraction(1, REPLAY_SHARE_DENOMINATOR)),
               Fraction(REPLAY_SHARE_DENOMINATOR - 1, REPLAY_SHARE_DENOMINATOR))


def round_records(spec: DataFoundryJobSpec, round_: int, accepted: int, generated: int,
                  accepted_replay: int = 0) -> int:
    """Records generator round `round_` asks for, given the cumulative counts of the rounds before it:
    `accepted` toward the target, `accepted_replay` self-generated replay records.

    With self-generated replay the round holds both in the schedule's proportion (`replay_share`) and is
    as large as the more wanting of the two needs."""
    overgenerate = spec.target.overgenerate
    replay = replay_target(spec)
    if round_ == 0:
        return first_round_records(spec.target.records + replay, overgenerate)
    share = replay_share(spec)
    if share == 0:
        return top_up_records(spec.target.records, accepted, generated, overgenerate)
    domain = top_up_records(spec.target.records, accepted, math.floor(generated * (1 - share)), overgenerate)
    rehearsal = top_up_records(replay, accepted_replay, math.floor(generated * share), overgenerate)
    return max(math.ceil(domain / (1 - share)), math.ceil(rehearsal / share))


def another_round(spec: DataFoundryJobSpec, round_: int, accepted: int, accepted_replay: int = 0) -> bool:
    """Whether round `round_`, whose dedup accepted `accepted` records toward the target and `accepted_replay`
    self-generated replay records in all, is followed by a top-up round: too few of either, a generator to
    make more, and `spec.budget.maxRounds` not spent."""
    short = accepted < spec.target.records or accepted_replay < replay_target(spec)
    return short and spec.generator is not None and round_ + 1 < spec.budget.max_rounds
