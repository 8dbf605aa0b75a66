"""Which shards' live progress the status shows (what a reconcile pass asks the background reader,
`controller.live_reader`, to refresh). Pure: it reads the observed Jobs, never the store."""

from __future__ import annotations

from datafoundry.api.stages import Stage
from datafoundry.controller.observe import Observed
from datafoundry.pipeline.contract import ShardKey


def running_shards(observed: Observed) -> list[ShardKey]:
    """Shards whose live progress the status shows: unfinished generator indexes, filter Jobs and the
    evaluate Job with running pods (a pod waiting for a node writes nothing; a finished one reports its final
    counts through its termination message)."""
    out: list[ShardKey] = []
    for job in observed.jobs:
        if job.finished or job.deleting or job.ready == 0:
            continue
        if job.stage == Stage.GENERATE:
            out += [(Stage.GENERATE, job.round, k) for k in range(job.completions) if k not in job.completed_indexes]
        elif job.stage == Stage.FILTER and job.shard is not None:
            out.append((Stage.FILTER, job.round, job.shard))
        elif job.stage == Stage.EVALUATE:
            out.append((Stage.EVALUATE, job.round, 0))
    return out
