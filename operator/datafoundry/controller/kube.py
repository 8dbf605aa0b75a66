"""The few Kubernetes writes the operator makes, through the official client (run in threads)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client import ApiException

from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.controller import metrics
from datafoundry.engines.retry import Backoff, parse_retry_after

log = logging.getLogger(__name__)
T = TypeVar("T")


#: Concurrent API requests. Not asyncio's default pool (cores + 4 threads: 6 on a 2-core node, so a
#: thousand jobs' writes queued behind each other while the API server had capacity left).
API_THREADS = 16
_pool = ThreadPoolExecutor(API_THREADS, thread_name_prefix="kube-api")
#: Connections kept for watches beyond the request threads' (two per watched namespace).
WATCH_CONNECTIONS = 8


@cache
def api_client() -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    configuration = client.Configuration.get_default_copy()
    # The informer's watch streams hold connections of the same pool for minutes at a time.
    configuration.connection_pool_maxsize = API_THREADS + WATCH_CONNECTIONS
    return client.ApiClient(configuration)


async def _in_pool(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_pool, fn, *args)


class Refused(Exception):
    """The API server refused an object as invalid (400/422): creating it again cannot succeed."""


def _refusal(e: ApiException) -> str:
    try:
        return str(json.loads(e.body or "{}").get("message") or e.reason)
    except (TypeError, ValueError, AttributeError):
        return str(e.reason)


def raw_request(method: str, path: str, body: Any = None, content_type: str = "application/json") -> bytes:
    """One request with the client's connection pool and credentials; the reply's body, unparsed.

    Not the generated API methods: those validate every argument with pydantic and convert bodies
    and replies to and from models, which cost more CPU than the request itself at a thousand jobs.
    """
    api = api_client()
    method, url, headers, body, _ = api.param_serialize(
        method, path, header_params={"Accept": "application/json", "Content-Type": content_type},
        body=body, auth_settings=["BearerToken"])
    response = api.call_api(method, url, headers, body)
    data: bytes = response.read()  # type: ignore[no-untyped-call]
    if not 200 <= response.status < 300:
        error = ApiException(status=response.status, reason=response.reason, body=data.decode("utf-8", "replace"))
        error.headers = response.headers  # Retry-After, for the retries below
        raise error
    return data


def raw_stream(path: str, read_timeout: float) -> Any:
    """GET `path` without reading the body: the urllib3 response, to stream (a watch)."""
    api = api_client()
    method, url, headers, _, _ = api.param_serialize(
        "GET", path, header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
    return api.call_api(method, url, headers, _request_timeout=(10, read_timeout)).response


def _collection(obj: dict[str, Any]) -> str:
    ns = obj["metadata"]["namespace"]
    if obj["kind"] == "Job":
        return f"/apis/batch/v1/namespaces/{ns}/jobs"
    if obj["kind"] == "ConfigMap":
        return f"/api/v1/namespaces/{ns}/configmaps"
    raise ValueError(f"unexpected kind {obj['kind']}")


def _create(obj: dict[str, Any]) -> bool:
    """Create `obj`; False when it already exists (names are deterministic, so that is fine)."""
    try:
        raw_request("POST", _collection(obj), obj)
    except ApiException as e:
        if e.status == 409:
            return False
        if e.status in (400, 422):
            raise Refused(_refusal(e)) from e
        raise
    return True


async def create(obj: dict[str, Any]) -> bool:
    return await _in_pool(_create, obj)


def _delete_job(namespace: str, name: str) -> None:
    try:
        raw_request("DELETE", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
                 {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
    except ApiException as e:
        if e.status != 404:
            raise


async def delete_job(namespace: str, name: str) -> None:
    await _in_pool(_delete_job, namespace, name)


def _read_configmap(namespace: str, name: str) -> dict[str, Any] | None:
    try:
        cm: dict[str, Any] = json.loads(raw_request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}"))
    except ApiException as e:
        if e.status == 404:
            return None
        raise
    return cm


async def read_configmap(namespace: str, name: str) -> dict[str, Any] | None:
    """The ConfigMap, or None when it does not exist."""
    return await _in_pool(_read_configmap, namespace, name)


def _custom_object(namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"


#: Status patch retries: attempts in all, and the backoff between them (exponential with full jitter;
#: a Retry-After header on 429 or 5xx sets the wait instead, capped).
PATCH_ATTEMPTS = 5
PATCH_BACKOFF = Backoff(base=0.2, cap=10.0)
#: Answers worth another try: a conflict, throttling (429, with Retry-After from API Priority and
#: Fairness), and the API server or etcd briefly unavailable.
PATCH_RETRYABLE = frozenset({409, 429, 500, 502, 503, 504})


def retry_delay(error: ApiException, attempt: int, backoff: Backoff, rng: random.Random) -> float:
    """Seconds to wait before retrying `error` (attempt 0 is the first retry)."""
    retry_after = None
    if error.status == 429 or (error.status or 0) >= 500:
        headers = error.headers or {}
        retry_after = parse_retry_after(headers.get("Retry-After") if hasattr(headers, "get") else None)
    return backoff.delay(attempt, rng, retry_after)


def with_retries(call: Callable[[], T], *, verb: str, attempts: int, backoff: Backoff, retryable: frozenset[int],
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> T:
    """`call()`, retried on the `retryable` statuses up to `attempts` times in all, sleeping between
    tries (see `retry_delay`); each retry counts in datafoundry_kubernetes_api_retries_total{verb}."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
    for attempt in range(attempts):
        try:
            return call()
        except ApiException as e:
            if e.status not in retryable or attempt == attempts - 1:
                raise
            delay = retry_delay(e, attempt, backoff, rng)
            metrics.api_retries_total.labels(verb).inc()
            log.debug("%s answered %s; again in %.2fs", verb, e.status, delay)
            sleep(delay)
    raise AssertionError("unreachable")


def _patch_status(namespace: str, name: str, status: dict[str, Any],
                  sleep: Callable[[float], None] = time.sleep) -> None:
    def patch() -> None:
        raw_request("PATCH", _custom_object(namespace, name) + "/status", {"status": status},
                    content_type="application/merge-patch+json")

    try:
        with_retries(patch, verb="patch", attempts=PATCH_ATTEMPTS, backoff=PATCH_BACKOFF,
                     retryable=PATCH_RETRYABLE, sleep=sleep)
    except ApiException as e:
        if e.status != 404:  # the job is gone: nothing to report on
            raise


async def patch_status(namespace: str, name: str, status: dict[str, Any]) -> None:
    await _in_pool(_patch_status, namespace, name, status)


def _delete_self(namespace: str, name: str) -> None:
    try:
        raw_request("DELETE", _custom_object(namespace, name))
    except ApiException as e:
        if e.status != 404:
            raise


async def delete_job_resource(namespace: str, name: str) -> None:
    await _in_pool(_delete_self, namespace, name)
