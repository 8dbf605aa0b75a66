"""Operator settings, read once from the environment (the Helm chart sets them)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from datafoundry.api.spec import EnvFromSource, EnvVar


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in os.environ.get(name, "").split(",") if v.strip())


#: The chart's workers.env and workers.envFrom, as JSON lists.
ENV_WORKER_ENV = "DATAFOUNDRY_WORKER_ENV"
ENV_WORKER_ENV_FROM = "DATAFOUNDRY_WORKER_ENV_FROM"


class ConfigError(ValueError):
    """An operator setting that cannot be used; the message names the variable."""


def _env_json_list(name: str, item: Any) -> tuple[dict[str, Any], ...]:
    """A JSON list of `item` models (the chart's `toJson`) from variable `name`, as Kubernetes dicts."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ()
    try:
        items = TypeAdapter(list[item]).validate_python(json.loads(raw))
    except (ValueError, ValidationError) as e:
        raise ConfigError(f"{name}: not a list of Kubernetes {item.__name__} objects as the chart writes them: "
                          f"{e}") from None
    return tuple(i.model_dump(by_alias=True, exclude_none=True, mode="json") for i in items)


@dataclass(frozen=True)
class OperatorConfig:
    generator_image: str = "ghcr.io/datafoundry/generator:0.1.0"
    filter_image: str = "ghcr.io/datafoundry/filter:0.1.0"
    #: The operator's own image, when it knows it (the chart sets it): recorded with the worker images.
    operator_image: str | None = None
    worker_service_account: str = "datafoundry-worker"
    #: Namespaces to watch; empty means all namespaces (cluster-wide mode).
    namespaces: tuple[str, ...] = ()
    #: How often live progress is aggregated from the workers' progress objects.
    progress_interval_seconds: float = 10.0
    #: At most this many progress objects read per second over all jobs: with many running shards
    #: each job's live progress is refreshed less often instead of the operator spending its CPU on S3.
    live_progress_reads_per_second: float = 20.0
    #: At most two reconcile passes of one job start within this long: the events of a burst share passes.
    min_pass_interval_seconds: float = 1.0
    #: Numeric user the worker containers run as (restricted Pod Security Standard).
    worker_uid: int = 65532
    image_pull_secrets: tuple[str, ...] = ()
    filter_cpu: str = "1"
    filter_memory: str = "2Gi"
    generator_cpu: str = "4"
    generator_memory: str = "32Gi"
    shm_size: str = "8Gi"
    #: Passed on to every worker (DATAFOUNDRY_MAX_LINE_BYTES); None: the workers' default (64 MiB).
    max_line_bytes: int | None = None
    #: The chart's `workers.env` / `workers.envFrom` (Kubernetes EnvVar / EnvFromSource dicts), added to
    #: every worker container before the job's own `spec.workers`.
    worker_env: tuple[dict[str, Any], ...] = ()
    worker_env_from: tuple[dict[str, Any], ...] = ()
    #: How long a finished job's metrics stay exported after its completionTime, so that Prometheus
    #: scrapes the final values (and alerts on the phase see it) before the series go.
    finished_job_metrics_seconds: float = 600.0

    @classmethod
    def from_env(cls) -> OperatorConfig:
        env = os.environ
        base = cls()
        return cls(
            generator_image=env.get("DATAFOUNDRY_GENERATOR_IMAGE", base.generator_image),
            filter_image=env.get("DATAFOUNDRY_FILTER_IMAGE", base.filter_image),
            operator_image=env.get("DATAFOUNDRY_OPERATOR_IMAGE") or None,
            worker_service_account=env.get("DATAFOUNDRY_WORKER_SERVICE_ACCOUNT", base.worker_service_account),
            namespaces=_env_list("DATAFOUNDRY_NAMESPACES"),
            progress_interval_seconds=float(
                env.get("DATAFOUNDRY_PROGRESS_INTERVAL_SECONDS", base.progress_interval_seconds)
            ),
            live_progress_reads_per_second=float(
                env.get("DATAFOUNDRY_LIVE_PROGRESS_READS_PER_SECOND", base.live_progress_reads_per_second)
            ),
            min_pass_interval_seconds=float(
                env.get("DATAFOUNDRY_MIN_PASS_INTERVAL_SECONDS", base.min_pass_interval_seconds)
            ),
            worker_uid=int(env.get("DATAFOUNDRY_WORKER_UID", base.worker_uid)),
            image_pull_secrets=_env_list("DATAFOUNDRY_IMAGE_PULL_SECRETS"),
            filter_cpu=env.get("DATAFOUNDRY_FILTER_CPU", base.filter_cpu),
            filter_memory=env.get("DATAFOUNDRY_FILTER_MEMORY", base.filter_memory),
            generator_cpu=env.get("DATAFOUNDRY_GENERATOR_CPU", base.generator_cpu),
            generator_memory=env.get("DATAFOUNDRY_GENERATOR_MEMORY", base.generator_memory),
            shm_size=env.get("DATAFOUNDRY_SHM_SIZE", base.shm_size),
            max_line_bytes=int(env["DATAFOUNDRY_MAX_LINE_BYTES"]) if env.get("DATAFOUNDRY_MAX_LINE_BYTES") else None,
            worker_env=_env_json_list(ENV_WORKER_ENV, EnvVar),
            worker_env_from=_env_json_list(ENV_WORKER_ENV_FROM, EnvFromSource),
            finished_job_metrics_seconds=float(
                env.get("DATAFOUNDRY_FINISHED_JOB_METRICS_SECONDS", base.finished_job_metrics_seconds)
            ),
        )
