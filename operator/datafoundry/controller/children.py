"""The child objects of a DataFoundryJob, as manifests (pure functions, no API calls).

Names are deterministic (`<job>-gen-r0`, `<job>-filter-r0-s3`, `<job>-dedup-r0`, `<job>-eval`,
`<job>-publish`, `<job>-plan`), so a restarted operator finds what it created and creating twice is a harmless
409. Child Jobs are create-only: once created, Kueue owns their `suspend`; we never flip it back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from datafoundry.api.keys import (
    LABEL_JOB_NAME,
    LABEL_JOB_UID,
    LABEL_KUEUE_QUEUE,
    LABEL_MANAGED_BY,
    LABEL_ROUND,
    LABEL_SHARD,
    LABEL_STAGE,
    MANAGED_BY,
)
from datafoundry.api.spec import (
    MODEL_CACHE_MOUNT,
    MODEL_CLAIM_MOUNT_ROOT,
    DataFoundryJobSpec,
    EngineType,
    Generator,
)
from datafoundry.api.stages import Stage
from datafoundry.controller.config import OperatorConfig
from datafoundry.controller.owner import Owner
from datafoundry.pipeline import contract
from datafoundry.pipeline.output_env import output_settings

GPU_RESOURCE = "nvidia.com/gpu"
# Kubernetes label values (and so Job names, which pods carry as a label) stop at 63 characters.
MAX_CHILD_NAME = 63


def child_name(job: str, suffix: str) -> str:
    """`<job>-<suffix>`, shortened with a stable hash when it would exceed 63 characters."""
    name = f"{job}-{suffix}"
    if len(name) <= MAX_CHILD_NAME:
        return name
    digest = hashlib.sha256(job.encode()).hexdigest()[:8]
    keep = MAX_CHILD_NAME - len(suffix) - len(digest) - 2
    return f"{job[:keep].rstrip('-')}-{digest}-{suffix}"


def plan_configmap_name(job: str) -> str:
    return child_name(job, "plan")


def generate_job_name(job: str, round_: int) -> str:
    return child_name(job, f"{Stage.GENERATE.short}-r{round_}")


def filter_job_name(job: str, round_: int, shard: int) -> str:
    return child_name(job, f"{Stage.FILTER.short}-r{round_}-s{shard}")


def dedup_job_name(job: str, round_: int) -> str:
    return child_name(job, f"{Stage.DEDUP.short}-r{round_}")


def evaluate_job_name(job: str) -> str:
    return child_name(job, Stage.EVALUATE.short)


def publish_job_name(job: str) -> str:
    return child_name(job, Stage.PUBLISH.short)


def base_labels(owner: Owner) -> dict[str, str]:
    return {LABEL_JOB_NAME: owner.name, LABEL_JOB_UID: owner.uid, LABEL_MANAGED_BY: MANAGED_BY}


class PlanTooLarge(ValueError):
    """The plan (the whole spec) does not fit in a ConfigMap; the message names the largest field."""


#: A ConfigMap holds at most 1 MiB of data; the rest of the object needs a little room too.
MAX_PLAN_BYTES = 1024 * 1024 - 8 * 1024


def _leaves(value: Any, path: str) -> Iterator[tuple[str, int]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, len(json.dumps(value))


def check_plan_size(plan_json: str, spec_json: dict[str, Any]) -> None:
    """PlanTooLarge, naming the spec's largest value, when the plan would not fit in its ConfigMap."""
    size = len(plan_json.encode())
    if size <= MAX_PLAN_BYTES:
        return
    field, field_size = max(_leaves(spec_json, "spec"), key=lambda leaf: leaf[1])
    raise PlanTooLarge(
        f"{field}: too large ({field_size} bytes): the plan of this job would be {size} bytes, and a ConfigMap "
        f"holds at most {MAX_PLAN_BYTES}; put large seeds in an object (spec.task.seeds.uri) or documents in "
        "spec.task.documents"
    )


# Where the fields of a child Job come from in the DataFoundryJob's spec, for refusal messages.
_CHILD_FIELDS = (
    ("resources", "spec.generator.resources"),
    ("nodeSelector", "spec.generator.nodeSelector"),
    ("tolerations", "spec.generator.tolerations"),
    ("priorityClassName", "spec.priorityClassName"),
    ("image", "spec.generator.image"),
    ("kueue.x-k8s.io/queue-name", "spec.queueName"),
    ("secretKeyRef", "spec.output.credentials"),
    ("volumes", "spec.output.endpointCA"),
    ("persistentVolumeClaim", "spec.generator.model, spec.generator.modelCache"),
    ("ephemeral-storage", "spec.generator.modelCache.sizeLimit"),
    ("envFrom", "spec.workers.envFrom"),
)


def refusal_hint(message: str) -> str:
    """' (check spec.generator.resources)' for a refusal that names a field coming from the spec."""
    fields = [spec_field for key, spec_field in _CHILD_FIELDS if key in message]
    return f" (check {', '.join(fields)})" if fields else ""


def plan_configmap(owner: Owner, plan_json: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": plan_configmap_name(owner.name),
            "namespace": owner.namespace,
            "labels": base_labels(owner),
            "ownerReferences": [owner.reference()],
        },
        "data": {contract.PLAN_CONFIGMAP_KEY: plan_json},
    }


def plan_facts(configmap: dict[str, Any]) -> tuple[str | None, str | None]:
    """(owner uid, recipe hash) of an existing plan ConfigMap; None for what it does not say."""
    refs = (configmap.get("metadata") or {}).get("ownerReferences") or []
    owner = str(refs[0].get("uid")) if refs else None
    try:
        plan = json.loads((configmap.get("data") or {}).get(contract.PLAN_CONFIGMAP_KEY) or "{}")
    except ValueError:
        return owner, None
    recipe = plan.get("recipeHash") if isinstance(plan, dict) else None
    return owner, recipe if isinstance(recipe, str) else None


def _storage_env(spec: DataFoundryJobSpec) -> list[dict[str, Any]]:
    """S3 settings for a worker: Secret references only; the operator never reads the Secret."""
    out = spec.output
    # Endpoint, region and addressing style (the workers also read them from the plan's spec).
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in output_settings(out).items()]
    ref = out.credentials.secret_ref if out.credentials else None
    if ref is not None:
        keys = [(contract.ENV_ACCESS_KEY, ref.access_key_id_key), (contract.ENV_SECRET_KEY, ref.secret_access_key_key)]
        if ref.session_token_key:
            keys.append((contract.ENV_SESSION_TOKEN, ref.session_token_key))
        env += [{"name": var, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": key}}} for var, key in keys]
    if out.endpoint_ca is not None:
        env.append({"name": contract.ENV_CA_BUNDLE, "value": "/etc/datafoundry/ca/ca.crt"})
    return env


def _engine_env(spec: DataFoundryJobSpec) -> list[dict[str, Any]]:
    engine = spec.generator.engine if spec.generator else None
    ref = engine.api_key_secret_ref if engine else None
    if ref is None:
        return []
    return [{"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}]


def _judge_env(spec: DataFoundryJobSpec) -> list[dict[str, Any]]:
    judge = spec.judge_filter()
    ref = judge.engine.api_key_secret_ref if judge is not None and judge.engine is not None else None
    if ref is None:
        return []
    return [{"name": contract.ENV_JUDGE_API_KEY, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}]


def _restricted_pod_security(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


RESTRICTED_CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _volumes(name: str, spec: DataFoundryJobSpec, *, shm: str | None) -> tuple[list[Any], list[Any]]:
    volumes: list[dict[str, Any]] = [
        {"name": "plan", "configMap": {"name": plan_configmap_name(name)}},
        {"name": "tmp", "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "plan", "mountPath": contract.PLAN_MOUNT_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if shm:
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": shm}})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    ca = spec.output.endpoint_ca
    if ca is not None:
        source_key = "secret" if ca.kind == "Secret" else "configMap"
        ref_name = {"secretName": ca.name} if ca.kind == "Secret" else {"name": ca.name}
        volumes.append({"name": "ca", source_key: {**ref_name, "items": [{"key": ca.key, "path": "ca.crt"}]}})
        mounts.append({"name": "ca", "mountPath": "/etc/datafoundry/ca", "readOnly": True})
    return volumes, mounts


def worker_env(own: list[dict[str, Any]], config: OperatorConfig, spec: DataFoundryJobSpec) -> list[dict[str, Any]]:
    """The operator's variables, then the chart's `workers.env`, then `spec.workers.env`: a name the
    operator sets keeps its value, and the spec's value replaces the chart's for the same name."""
    taken = {var["name"] for var in own}
    extra: dict[str, dict[str, Any]] = {}
    spec_env = (spec.workers.env if spec.workers else None) or ()
    for var in [*config.worker_env, *(e.model_dump(by_alias=True, exclude_none=True, mode="json") for e in spec_env)]:
        if var["name"] not in taken:
            extra[var["name"]] = var
    return [*own, *extra.values()]


def model_delivery(gen: Generator) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]],
                                             dict[str, str]]:
    """(volumes, mounts, env, resource requests) that bring `generator.model` to the in-pod engine:
    a pvc:// claim mounted read-only at /models/<claim>, the model cache, the Hugging Face settings."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    env: list[dict[str, Any]] = []
    requests: dict[str, str] = {}
    if gen.engine.type != EngineType.VLLM:
        return volumes, mounts, env, requests  # an endpoint serves the model: nothing to load here
    if gen.model.startswith("pvc://"):
        claim = gen.model.removeprefix("pvc://").split("/", 1)[0]
        mount = f"{MODEL_CLAIM_MOUNT_ROOT}/{claim}"
        volumes.append({"name": "model", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}})
        mounts.append({"name": "model", "mountPath": mount, "readOnly": True})
        env.append({"name": contract.ENV_MODEL_CLAIM_DIR, "value": mount})
    s3_model = gen.model.startswith("s3://")
    cache = gen.model_cache
    if cache is not None:
        if cache.claim_name is not None:
            volumes.append({"name": "model-cache", "persistentVolumeClaim": {"claimName": cache.claim_name}})
        else:
            size = str(cache.size_limit)
            volumes.append({"name": "model-cache", "emptyDir": {"sizeLimit": size}})
            requests["ephemeral-storage"] = size
        mounts.append({"name": "model-cache", "mountPath": MODEL_CACHE_MOUNT})
        if s3_model:
            env.append({"name": contract.ENV_MODEL_CACHE, "value": f"{MODEL_CACHE_MOUNT}/s3"})
        else:
            env.append({"name": "HF_HUB_CACHE", "value": f"{MODEL_CACHE_MOUNT}/huggingface"})
    elif s3_model:
        env.append({"name": contract.ENV_MODEL_CACHE, "value": contract.DEFAULT_MODEL_CACHE})
    hf = gen.hugging_face
    if hf is not None and hf.token_secret_ref is not None:
        ref = hf.token_secret_ref
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}})
    if hf is not None and hf.endpoint is not None:
        env.append({"name": "HF_ENDPOINT", "value": hf.endpoint})
    return volumes, mounts, env, requests


def _job(
    *,
    owner: Owner,
    spec: DataFoundryJobSpec,
    config: OperatorConfig,
    job_name: str,
    stage: Stage,
    round_: int,
    shard: int | None,
    container: dict[str, Any],
    pod_extra: dict[str, Any],
    job_extra: dict[str, Any],
    shm: str | None = None,
) -> dict[str, Any]:
    labels = {**base_labels(owner), LABEL_STAGE: stage.value, LABEL_ROUND: str(round_)}
    if shard is not None:
        labels[LABEL_SHARD] = str(shard)
    job_labels = dict(labels)
    if spec.queue_name:
        job_labels[LABEL_KUEUE_QUEUE] = spec.queue_name
    volumes, mounts = _volumes(owner.name, spec, shm=shm)
    container = {
        "image": config.filter_image,
        "imagePullPolicy": "IfNotPresent",
        "securityContext": RESTRICTED_CONTAINER_SECURITY,
        "terminationMessagePath": contract.TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
        **container,
    }
    container["env"] = [
        {"name": contract.ENV_PLAN, "value": contract.PLAN_PATH},
        {"name": contract.ENV_ROUND, "value": str(round_)},
        *_storage_env(spec),
        *container.get("env", []),
    ]
    if config.max_line_bytes is not None:
        container["env"].append({"name": contract.ENV_MAX_LINE_BYTES, "value": str(config.max_line_bytes)})
    container["env"] = worker_env(container["env"], config, spec)
    env_from = [*config.worker_env_from, *(
        e.model_dump(by_alias=True, exclude_none=True, mode="json")
        for e in (spec.workers.env_from if spec.workers else None) or ())]
    if env_from:
        container["envFrom"] = env_from
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": config.worker_service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": _restricted_pod_security(config.worker_uid),
        "containers": [container],
        "volumes": volumes,
        **pod_extra,
    }
    if spec.priority_class_name:
        pod_spec["priorityClassName"] = spec.priority_class_name
    if config.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in config.image_pull_secrets]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": owner.namespace,
            "labels": job_labels,
            "ownerReferences": [owner.reference()],
        },
        "spec": {
            # Kueue admits suspended Jobs; without a queue they start at once.
            "suspend": bool(spec.queue_name),
            "podFailurePolicy": {
                "rules": [
                    # Input that a retry cannot fix fails at once instead of burning retries.
                    {"action": "FailIndex" if "completionMode" in job_extra else "FailJob",
                     "onExitCodes": {"operator": "In", "values": [contract.EXIT_BAD_INPUT]}},
                    # Preemption and node loss are not the worker's fault: retry without counting.
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                ]
            },
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            **job_extra,
        },
    }


def _gpu_placement(gen: Generator, config: OperatorConfig, gpus: int, extra_requests: dict[str, str],
                   ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(requests, limits, pod spec fields) of a pod placed like the generator's: its resources with
    `gpus` GPUs, its node selector and tolerations."""
    requests: dict[str, Any] = {"cpu": config.generator_cpu, "memory": config.generator_memory, **extra_requests}
    limits: dict[str, Any] = {"memory": config.generator_memory}
    if gpus:
        limits[GPU_RESOURCE] = str(gpus)
    if gen.resources is not None:
        user_requests, user_limits = gen.resources.requests or {}, gen.resources.limits or {}
        # The user's value for a resource replaces both defaults, so that a default never ends up on
        # the wrong side of it (a request above a limit is an invalid pod): a limit alone makes the
        # request default to it (Kubernetes' rule), a request alone drops the default limit.
        for resource in user_limits:
            if resource not in user_requests:
                requests.pop(resource, None)
        for resource in user_requests:
            if resource not in user_limits and resource != GPU_RESOURCE:
                limits.pop(resource, None)
        requests.update(user_requests)
        limits.update(user_limits)
    tolerations = [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in gen.tolerations or []]
    if gpus and not any(t.get("key") == GPU_RESOURCE for t in tolerations):
        # What the ExtendedResourceToleration admission plugin adds on clusters that enable it.
        tolerations.append({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"})
    pod_extra: dict[str, Any] = {}
    if gen.node_selector:
        pod_extra["nodeSelector"] = dict(gen.node_selector)
    if tolerations:
        pod_extra["tolerations"] = tolerations
    return requests, limits, pod_extra


def generate_job(
    owner: Owner, spec: DataFoundryJobSpec, config: OperatorConfig, round_: int, records: int
) -> dict[str, Any]:
    """One Indexed Job per round: shard k is pod index k (`JOB_COMPLETION_INDEX`)."""
    gen = spec.generator
    if gen is None:
        raise ValueError("generate_job needs spec.generator")
    gpus = gen.gpus_per_shard if gen.engine.type == EngineType.VLLM else 0
    model_volumes, model_mounts, model_env, model_requests = model_delivery(gen)
    requests, limits, pod_extra = _gpu_placement(gen, config, gpus, model_requests)
    container = {
        "name": Stage.GENERATE.value,
        "image": gen.image or config.generator_image,
        "args": [*contract.worker_args(Stage.GENERATE, round_), "--records", str(records)],
        # The judge scores each chunk in the generator pod, with the generator's engine or an endpoint.
        # Only the generator serves metrics: the CPU stages' counts reach Prometheus through the status.
        "env": [{"name": contract.ENV_METRICS_PORT, "value": str(contract.METRICS_PORT)},
                *_engine_env(spec), *_judge_env(spec), *model_env],
        "resources": {"requests": requests, "limits": limits},
        "ports": [{"name": "metrics", "containerPort": contract.METRICS_PORT}],
    }
    job = _job(
        owner=owner, spec=spec, config=config,
        job_name=generate_job_name(owner.name, round_), stage=Stage.GENERATE, round_=round_, shard=None,
        container=container, pod_extra=pod_extra, shm=config.shm_size if gpus else None,
        job_extra={
            "completionMode": "Indexed",
            "completions": gen.shards,
            "parallelism": gen.parallelism or gen.shards,
            "backoffLimitPerIndex": spec.backoff_limit,
            "maxFailedIndexes": 0,
        },
    )
    pod_spec = job["spec"]["template"]["spec"]
    pod_spec["volumes"] += model_volumes
    pod_spec["containers"][0]["volumeMounts"] += model_mounts
    return job


def _cpu_job(
    owner: Owner, spec: DataFoundryJobSpec, config: OperatorConfig,
    stage: Stage, job_name: str, round_: int, shard: int | None, args: list[str],
) -> dict[str, Any]:
    container = {
        "name": stage.value,
        "args": args,
        "resources": {
            "requests": {"cpu": config.filter_cpu, "memory": config.filter_memory},
            "limits": {"memory": config.filter_memory},
        },
    }
    return _job(
        owner=owner, spec=spec, config=config, job_name=job_name,
        stage=stage, round_=round_, shard=shard, container=container, pod_extra={},
        job_extra={"completions": 1, "parallelism": 1, "backoffLimit": spec.backoff_limit},
    )


def filter_job(
    owner: Owner, spec: DataFoundryJobSpec, config: OperatorConfig, round_: int, shard: int
) -> dict[str, Any]:
    """One Job per generated shard, created as soon as that shard's generation is done."""
    args = [*contract.worker_args(Stage.FILTER, round_), "--shard", str(shard)]
    job = _cpu_job(owner, spec, config, Stage.FILTER, filter_job_name(owner.name, round_, shard), round_, shard, args)
    if spec.input is not None:  # curation: the filter pod calls the judge's endpoint
        job["spec"]["template"]["spec"]["containers"][0]["env"] += _judge_env(spec)
    return job


def dedup_job(owner: Owner, spec: DataFoundryJobSpec, config: OperatorConfig, round_: int) -> dict[str, Any]:
    """The global near-duplicate pass over every shard filtered so far."""
    args = contract.worker_args(Stage.DEDUP, round_)
    return _cpu_job(owner, spec, config, Stage.DEDUP, dedup_job_name(owner.name, round_), round_, None, args)


def evaluate_job(owner: Owner, spec: DataFoundryJobSpec, config: OperatorConfig, round_: int) -> dict[str, Any]:
    """The forgetting guard's Job, after the round-`round_` dedup: one pod placed like the generator's (its
    image, node selector, tolerations and resources, with one GPU unless generator.gpusPerShard is 0), with
    the generator's model delivered as its pods get it when the guard fine-tunes that model."""
    gen = spec.generator
    forgetting = spec.forgetting()
    if gen is None or forgetting is None:
        raise ValueError("evaluate_job needs spec.generator and spec.evaluation.forgetting")
    gpus = min(gen.gpus_per_shard, 1)
    volumes, mounts, env, model_requests = model_delivery(gen) if forgetting.model is None else ([], [], [], {})
    requests, limits, pod_extra = _gpu_placement(gen, config, gpus, model_requests)
    container = {
        "name": Stage.EVALUATE.value,
        "image": gen.image or config.generator_image,
        "args": contract.worker_args(Stage.EVALUATE, round_),
        "env": env,
        "resources": {"requests": requests, "limits": limits},
    }
    job = _job(
        owner=owner, spec=spec, config=config, job_name=evaluate_job_name(owner.name), stage=Stage.EVALUATE,
        round_=round_, shard=None, container=container, pod_extra=pod_extra,
        job_extra={"completions": 1, "parallelism": 1, "backoffLimit": spec.backoff_limit},
    )
    pod_spec = job["spec"]["template"]["spec"]
    pod_spec["volumes"] += volumes
    pod_spec["containers"][0]["volumeMounts"] += mounts
    return job


def images(spec: DataFoundryJobSpec, config: OperatorConfig) -> dict[str, str]:
    """The images that run this job, by role: the operator's own (when configured), the generator's
    (`spec.generator.image` or the operator's default; none for a curation job) and the CPU stages'."""
    out = {"operator": config.operator_image} if config.operator_image else {}
    if spec.generator is not None:
        out["generator"] = spec.generator.image or config.generator_image
    out["filter"] = config.filter_image
    return out


def publish_job(
    owner: Owner, spec: DataFoundryJobSpec, config: OperatorConfig, rounds: int, *, gpu_hours: float | None = None,
) -> dict[str, Any]:
    """Mix replay data and write the final shards, the manifest and the dataset card (which record
    the images of the job, from `images`)."""
    args = [*contract.worker_args(Stage.PUBLISH, rounds - 1)]
    job = _cpu_job(owner, spec, config, Stage.PUBLISH, publish_job_name(owner.name), rounds - 1, None, args)
    job["spec"]["template"]["spec"]["containers"][0]["env"] += [
        {"name": contract.ENV_IMAGES[role], "value": ref} for role, ref in images(spec, config).items()]
    if gpu_hours is not None:
        # Generation is over when the publish Job is created: the operator's count is final.
        job["spec"]["template"]["spec"]["containers"][0]["env"].append(
            {"name": contract.ENV_GPU_HOURS, "value": repr(round(gpu_hours, 6))})
    return job
