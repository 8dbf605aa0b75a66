"""Live progress from the workers' small progress objects, and staging cleanup (operator side).

The operator reaches the job's output with its own identity (its environment or pod identity),
never with the job's Secret. Where it has no access, live progress is simply absent and the
final counts still arrive through the pods' termination messages.
"""

from __future__ import annotations

import logging
import os

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import Progress
from datafoundry.storage import ObjectStore, open_store

log = logging.getLogger(__name__)
ShardKey = tuple[str, int, int]


def _store(spec: DataFoundryJobSpec) -> ObjectStore:
    env = dict(os.environ)
    if spec.output.endpoint_url:
        env["AWS_ENDPOINT_URL"] = spec.output.endpoint_url
    return open_store(spec.output.uri, env)


def read_live_progress(spec: DataFoundryJobSpec, uid: str) -> dict[ShardKey, Progress]:
    try:
        store = _store(spec)
        out: dict[ShardKey, Progress] = {}
        for key in store.list(layout.progress_prefix(uid) + "/"):
            data = store.get(key)
            if not data:
                continue
            p = Progress.model_validate_json(data)
            out[(p.stage, p.round, p.shard)] = p
        return out
    except Exception as e:  # progress is best effort; final counts come from the pods
        log.debug("no live progress for %s: %s", uid, e)
        return {}


def remove_staging(spec: DataFoundryJobSpec, uid: str) -> int:
    return _store(spec).delete_prefix(layout.staging_prefix(uid) + "/")
