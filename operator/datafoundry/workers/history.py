"""What a strategy that `remembers` sees of the records the job accepted before a chunk.

The history of chunk c of shard s in round r is, oldest first: the generate parts of every earlier
round (all shards, by shard then chunk), then shard s's parts of chunks < c in round r. It is read
from finished, immutable parts only, so a resumed shard rebuilds exactly the history an
uninterrupted run had; shards of one round do not see each other's records, the next round sees all.
Parts are read newest first and only as far as the strategy's `memory` needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from datafoundry.api.stages import Stage
from datafoundry.pipeline import layout
from datafoundry.records.fields import META_FIELD
from datafoundry.records.read import strict_jsonl
from datafoundry.workers.common import WorkerContext

_PART = re.compile(r"/s\d+/part-\d+\.jsonl$")


def history_keys(ctx: WorkerContext, chunk: int) -> list[str]:
    """The generate parts before chunk `chunk` of this shard and round, oldest first."""
    keys: list[str] = []
    for round_ in range(ctx.round):
        prefix = layout.join(layout.staging_prefix(ctx.uid), Stage.GENERATE.short, f"r{round_:02d}") + "/"
        keys += sorted(k for k in ctx.store.list(prefix) if _PART.search(k))
    keys += [layout.part_key(ctx.uid, Stage.GENERATE, ctx.round, ctx.shard, c) for c in range(chunk)]
    return keys


def _newest_first(ctx: WorkerContext, keys: list[str], strategy: str) -> Iterator[dict[str, Any]]:
    for key in reversed(keys):
        data = ctx.store.get(key)
        if data is None:
            raise RuntimeError(f"{key} is missing: a finished chunk's part is gone from the store")
        records = [r for _, r in strict_jsonl(data, "generated part", ctx.store.uri(key))
                   if isinstance(meta := r.get(META_FIELD), dict) and meta.get("strategy") == strategy]
        yield from reversed(records)


def load_accepted(ctx: WorkerContext, chunk: int, strategy: str, limit: int | None) -> list[dict[str, Any]]:
    """The latest `limit` (None: all) records of `strategy` accepted before chunk `chunk` of this shard, oldest
    first."""
    if limit is not None and limit <= 0:
        return []
    newest: list[dict[str, Any]] = []
    for record in _newest_first(ctx, history_keys(ctx, chunk), strategy):
        newest.append(record)
        if len(newest) == limit:
            break
    return newest[::-1]
