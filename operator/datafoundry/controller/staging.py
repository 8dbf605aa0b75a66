"""Removing a deleted job's staging objects (everything under its `_staging/<uid>/`); the published
dataset is never touched.

The operator reaches the job's output with its own identity (its environment or pod identity),
never with the job's Secret.
"""

from __future__ import annotations

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import metrics
from datafoundry.pipeline import layout
from datafoundry.pipeline.output_env import output_env
from datafoundry.storage import ObjectStore, open_store
from datafoundry.storage.s3 import ENV_RETRY_SECONDS, S3Store

# How long one call waits for a store that is down: staging cleanup waits a little, and kopf retries
# the deletion handler after that. (Live progress does not wait at all: see controller/live_reader.py.)
CLEANUP_RETRY_SECONDS = 15.0


def _store(spec: DataFoundryJobSpec, retry_seconds: float) -> ObjectStore:
    # The job's endpoint, region and addressing style; the operator's own credentials and CA bundle.
    env = output_env(spec, spec_wins=True)
    env[ENV_RETRY_SECONDS] = str(retry_seconds)
    return open_store(spec.output.uri, env)


def remove_staging(spec: DataFoundryJobSpec, uid: str) -> int:
    store = _store(spec, CLEANUP_RETRY_SECONDS)
    if isinstance(store, S3Store):
        store.on_retry = lambda operation: metrics.s3_retries_total.labels(operation).inc()
    return store.delete_prefix(layout.staging_prefix(uid) + "/")
