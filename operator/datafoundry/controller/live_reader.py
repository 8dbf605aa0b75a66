"""Live progress of the running shards (`controller.live.running_shards`), read from the workers'
progress objects in the background.

A reconcile pass never waits for the store: it only asks for a refresh. A read runs in the
background on a small pool of its own, at most every `interval` seconds per job and only for shards
that are running, GETting just their progress objects with one shared client per bucket, within a
budget of reads per second over all jobs; when it sees something new it wakes the job. Final counts
never come from here (they come from the pods), so a slow, stale or missing reading costs nothing
but freshness.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import Progress, ShardKey
from datafoundry.pipeline.output_env import output_env
from datafoundry.storage import split_uri
from datafoundry.storage.s3 import S3Store

log = logging.getLogger(__name__)


@lru_cache(maxsize=16)
def _bucket_store(bucket: str, env: frozenset[tuple[str, str]]) -> S3Store:
    """One client per bucket and S3 settings (`spec.output`'s endpoint, region, addressing style) for
    every job's reads (boto3 clients are thread-safe; making one costs milliseconds of CPU and about a
    megabyte). No long retries: the next refresh reads again."""
    return S3Store(bucket, "", env=dict(env), retry_seconds=0)


def output_bucket(spec: DataFoundryJobSpec) -> tuple[S3Store, str] | None:
    """The shared store of the output's bucket and the output's prefix; None for a file:// output."""
    scheme, bucket, prefix = split_uri(spec.output.uri)
    if scheme != "s3":
        return None
    # The job's endpoint, region and addressing style; the operator's own credentials and CA bundle.
    return _bucket_store(bucket, frozenset(output_env(spec, spec_wins=True).items())), prefix


def read_shards(spec: DataFoundryJobSpec, uid: str, shards: Collection[ShardKey]) -> dict[ShardKey, Progress]:
    """The progress objects of `shards` that exist (blocking: S3 calls)."""
    found = output_bucket(spec)
    if found is None:
        return {}  # a file:// output is local to `datafoundry run`, which has its own view
    store, prefix = found
    out: dict[ShardKey, Progress] = {}
    for stage, round_, shard in shards:
        data = store.get(layout.join(prefix, layout.progress_key(uid, stage, round_, shard)))
        if data:
            p = Progress.model_validate_json(data)
            out[(p.stage, p.round, p.shard)] = p
    return out


class LiveProgress:
    """The last reading per job, refreshed in the background (see the module docstring)."""

    def __init__(self, interval: float, reads_per_second: float, threads: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.reads_per_second = reads_per_second
        self.clock = clock
        # A token bucket over all jobs, one token per object read; a read may overdraw it (a job with
        # more shards than a second's tokens still gets read), and then the next ones wait.
        self._tokens = reads_per_second
        self._tokens_at = clock()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="live-progress")
        self._latest: dict[str, dict[ShardKey, Progress]] = {}
        self._read_at: dict[str, float] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def latest(self, uid: str) -> dict[ShardKey, Progress]:
        return self._latest.get(uid, {})

    def refresh(self, uid: str, spec: DataFoundryJobSpec, shards: Collection[ShardKey],
                on_change: Callable[[], None]) -> None:
        """Start a background read of `shards` unless one is running or the last is recent. Must be
        called on the event loop; `on_change` runs there too, when the reading differs from the last."""
        now = self.clock()
        if not shards or uid in self._tasks or now - self._read_at.get(uid, now - self.interval) < self.interval:
            return
        self._tokens = min(self.reads_per_second, self._tokens + (now - self._tokens_at) * self.reads_per_second)
        self._tokens_at = now
        if self._tokens <= 0:
            return  # over budget: a later pass asks again
        self._tokens -= len(shards)
        self._read_at[uid] = now
        self._tasks[uid] = asyncio.get_running_loop().create_task(self._read(uid, spec, list(shards), on_change))

    async def _read(self, uid: str, spec: DataFoundryJobSpec, shards: list[ShardKey],
                    on_change: Callable[[], None]) -> None:
        try:
            reading = await asyncio.get_running_loop().run_in_executor(self._pool, read_shards, spec, uid, shards)
        except Exception as e:  # best effort: the store may be down or the operator without access
            log.debug("no live progress for %s: %s", uid, e)
            return
        finally:
            self._tasks.pop(uid, None)
        merged = {**self._latest.get(uid, {}), **reading}
        if merged != self._latest.get(uid):
            self._latest[uid] = merged
            on_change()

    async def drain(self) -> None:
        """Until the reads in flight are done."""
        await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def forget(self, uid: str) -> None:
        task = self._tasks.pop(uid, None)
        if task is not None:
            task.cancel()
        self._latest.pop(uid, None)
        self._read_at.pop(uid, None)
