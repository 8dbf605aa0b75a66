"""kopf registration: which DataFoundryJob events run what. Every handler delegates.

Operator-wide state is made by the startup handler and kept in the operator memo
(`controller.runtime`); per-job state in its registry (`controller.registry`). Importing this module
registers the handlers with kopf's default registry and builds nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.controller import metrics, runtime, supervisor
from datafoundry.controller.config import OperatorConfig
from datafoundry.controller.owner import Owner


def _owner(name: str, namespace: str | None, uid: str) -> Owner:
    assert namespace is not None, "DataFoundryJob is namespaced"
    return Owner(namespace=namespace, name=name, uid=uid)


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf's settings for this operator."""
    # A strict status schema prunes kopf's own bookkeeping: keep it in annotations instead.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration")
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # kopf turns handler log lines into Events; ours are explicit, so only warnings become Events.
    settings.posting.level = logging.WARNING
    # Reconnect watches regularly so a restarted API server is noticed without a human.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.reconnect_backoff = 1.0
    # kopf's default (1, 1, 2, 3, 5, 8, 13, 21) gives up on the API server after 54 s (a watch that
    # gives up stops the operator) and may wait 21 s after it is back. Short steps for about 2 minutes.
    settings.networking.error_backoffs = (1, 1, 2, 3, *[5] * 12, *[10] * 6)
    settings.execution.max_workers = 20
    # No CRD/namespace scanning: the resources are known, and it would need more RBAC.
    settings.scanning.disabled = True
    # A restarted operator lists the jobs in pages, not in one response.
    settings.watching.chunk_size = 500


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    configure(settings)
    metrics.preinitialise()
    config = OperatorConfig.from_env()
    rt = memo[runtime.MEMO_KEY] = runtime.Runtime.new(config)
    # The operator's namespaces (run_operator puts them in the memo), or the whole cluster when empty:
    # a namespaced install's Roles forbid a cluster-wide watch.
    rt.children.start(memo.get("namespaces", config.namespaces), on_change=rt.jobs.wake_all)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    runtime.of(memo).children.stop()


@kopf.on.event(GROUP, VERSION, PLURAL)
async def on_job_event(uid: str | None, meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    # Only a new spec is news to the daemon: most events are its own status writes coming back,
    # and a pass for each would double the passes (kopf updates the daemon's body either way).
    rt = runtime.of(memo)
    state = rt.jobs.get(uid)
    if state is not None and state.spec_of(int(meta.get("generation") or 1)) is None:
        rt.jobs.wake(uid)


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10.0)
async def supervise(body: kopf.Body, name: str, namespace: str | None, uid: str, memo: kopf.Memo,
                    stopped: kopf.DaemonStopped, **_: Any) -> None:
    await supervisor.supervise(runtime.of(memo), body, _owner(name, namespace, uid), stopped)


@kopf.on.delete(GROUP, VERSION, PLURAL, retries=supervisor.CLEANUP_TRIES, backoff=2)
async def cleanup(body: kopf.Body, name: str, namespace: str | None, uid: str, memo: kopf.Memo, retry: int,
                  **_: Any) -> None:
    """Remove the job's staging objects; the published dataset is kept. Children go by ownerReferences."""
    await supervisor.finalize(runtime.of(memo), body, _owner(name, namespace, uid), retry)
