"""Which records a job publishes: the seeded selection that the publish and evaluate workers share.

Candidates are every record of the filter parts of rounds 0..R that the round-R dedup pass kept. Up to
`target.records` of them are chosen by seeded key (`datafoundry.publish.select`); `mix.replay` adds
`records` replay records or as many as make them `ratio` of the published records (within one record):
sampled by seeded key from `uri`, or the self-generated ones the filters accepted (`generate`), chosen
by seeded key like the candidates. Every record gets `_source` = generated | input | replay | replay-self.
The selection is a pure function of what the stages before wrote, so the evaluate worker measures exactly
the records publish writes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from datafoundry.pipeline.contract import BadInput, Progress
from datafoundry.pipeline.plan import replay_target, replay_wanted
from datafoundry.publish.select import Candidate, smallest, smallest_per_group, sort_key
from datafoundry.records.fields import (
    SOURCE_FIELD,
    SOURCE_GENERATED,
    SOURCE_INPUT,
    SOURCE_REPLAY,
    SOURCE_REPLAY_SELF,
    is_self_replay,
)
from datafoundry.records.objects import resolve
from datafoundry.records.read import LineErrors, iter_jsonl, iter_records
from datafoundry.report import build as quality
from datafoundry.workers import staging
from datafoundry.workers.common import WorkerContext

log = logging.getLogger("datafoundry.worker.selection")


@dataclass
class Selection:
    #: Records toward the target, in key order.
    generated: list[Candidate]
    #: Replay records, in key order.
    replay: list[Candidate]
    #: What the manifest says of the replay (None without mix.replay).
    replay_info: dict[str, Any] | None
    #: Records the dedup pass kept (what the selection drew from).
    available: int
    #: The records of near-duplicate clusters the dedup summary names by position, for the report.
    members: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)


def select(ctx: WorkerContext, env: dict[str, str], found: list[Any], drops: dict[str, Any],
           dedup_done: Progress) -> Selection:
    """The published records of the job (see the module docstring); `found` and `drops` are the filter
    blocks and the dedup pass' drops of round `ctx.round`."""
    spec, store, seed = ctx.spec, ctx.store, ctx.spec.seed
    tag = SOURCE_GENERATED if spec.generator is not None else SOURCE_INPUT
    near = drops.get("nearDup") or {}
    wanted = {(shard, index) for cluster in near.get("examples") or [] for shard, index in cluster}
    members: dict[tuple[str, int], dict[str, Any]] = {}
    self_replay = spec.replay_generation() is not None
    available = 0

    def candidates() -> Iterator[tuple[int, Candidate]]:
        """(0, a record toward the target) or (1, a self-generated replay record)."""
        nonlocal available
        errors = LineErrors()
        for (r, k), _, summary in found:
            shard = staging.shard_id(r, k)
            dropped = set(drops.get("drops", {}).get(shard, []))
            index = 0
            for part in summary["parts"]:
                data = store.get(part["key"])
                if data is None:
                    raise RuntimeError(f"{store.uri(part['key'])} is missing")
                for _, record in iter_jsonl(data, store.uri(part["key"]), errors):
                    if (shard, index) in wanted:
                        members[(shard, index)] = quality.example(record, kept=index not in dropped)
                    if index not in dropped:
                        available += 1
                        rehearsal = self_replay and is_self_replay(record)
                        record[SOURCE_FIELD] = SOURCE_REPLAY_SELF if rehearsal else tag
                        yield int(rehearsal), (sort_key(seed, "g", r, k, index), record)
                    index += 1

    generated, rehearsal = smallest_per_group(candidates(), [spec.target.records, replay_target(spec)])
    replay, replay_info = _replay(ctx, env, len(generated), rehearsal, dedup_done.accepted_replay)
    return Selection(generated=generated, replay=replay, replay_info=replay_info, available=available,
                     members=members)


def _replay(ctx: WorkerContext, env: dict[str, str], generated: int, rehearsal: list[Candidate],
            rehearsal_accepted: int) -> tuple[list[Candidate], dict[str, Any] | None]:
    """The replay records published beside `generated` ones, and what the manifest says of them:
    the first of `rehearsal` (self-generated, in key order; `rehearsal_accepted` were accepted in all), or
    records sampled from mix.replay.uri."""
    spec = ctx.spec
    replay = spec.mix.replay if spec.mix is not None else None
    if replay is None:
        return [], None
    want = replay_wanted(replay, generated)
    amount = {"ratio": replay.ratio} if replay.ratio is not None else {"recordsWanted": replay.records}
    if replay.generate is not None:
        chosen = rehearsal[:want]
        if len(chosen) < want:
            log.warning("%d self-generated replay records were accepted, %d wanted: publishing all of them",
                        rehearsal_accepted, want)
        total = generated + len(chosen)
        return chosen, {"source": SOURCE_REPLAY_SELF, **amount, "wanted": want, "records": len(chosen),
                        "available": rehearsal_accepted,
                        "achievedRatio": round(len(chosen) / total, 6) if total else 0.0}
    assert replay.uri is not None  # exactly one of uri or generate
    objects = resolve(replay.uri, env)
    if not objects:
        raise BadInput(f"spec.mix.replay.uri {replay.uri}: not found (no object or prefix with data)")
    errors = LineErrors()
    seen = 0

    def candidates() -> Iterator[Candidate]:
        nonlocal seen
        for obj in objects:
            for line, record in iter_records(obj, replay.format.value, errors, replay.text_field):
                seen += 1
                record[SOURCE_FIELD] = SOURCE_REPLAY
                yield sort_key(spec.seed, "r", obj.uri, line), record

    chosen = smallest(candidates(), want)
    errors.check(f"mix.replay {replay.uri}")
    if len(chosen) < want:
        log.warning("replay source %s has %d records, %d wanted: publishing all of them", replay.uri, seen, want)
    total = generated + len(chosen)
    return chosen, {"source": SOURCE_REPLAY, "uri": replay.uri, **amount, "wanted": want, "records": len(chosen),
                    "available": seen, "achievedRatio": round(len(chosen) / total, 6) if total else 0.0,
                    "objects": [o.uri for o in objects], "malformed": errors.to_dict()}
