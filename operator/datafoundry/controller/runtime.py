"""The operator-wide state, made once at startup and kept in kopf's operator memo.

Handlers reach it through their `memo` (kopf passes each object's handlers a shallow copy of the
operator memo, so all of them share this one value); nothing of it exists before the operator starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import kopf

from datafoundry.api import keys
from datafoundry.controller.config import OperatorConfig
from datafoundry.controller.informer import Children
from datafoundry.controller.live_reader import LiveProgress
from datafoundry.controller.observe import job_essentials, pod_essentials
from datafoundry.controller.registry import JobRegistry

#: The key of the runtime in the operator memo.
MEMO_KEY = "runtime"


@dataclass(frozen=True)
class Runtime:
    config: OperatorConfig
    #: Per-job memory, by uid.
    jobs: JobRegistry
    #: The workers' live progress as last read from S3, refreshed in the background (never waited for).
    live: LiveProgress
    #: The slim caches of every job's child Jobs and pods.
    children: Children

    @classmethod
    def new(cls, config: OperatorConfig) -> Runtime:
        return cls(
            config=config,
            jobs=JobRegistry(),
            live=LiveProgress(config.progress_interval_seconds, config.live_progress_reads_per_second),
            children=Children(keys.LABEL_JOB_UID, job=job_essentials, pod=pod_essentials),
        )


def of(memo: kopf.Memo) -> Runtime:
    """The runtime the startup handler put in the operator memo."""
    runtime = memo.get(MEMO_KEY)
    if not isinstance(runtime, Runtime):
        raise RuntimeError("the operator memo holds no runtime: the startup handler has not run")
    return runtime
