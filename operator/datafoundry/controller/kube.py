"""The few Kubernetes writes the operator makes, through the official client (run in threads)."""

from __future__ import annotations

import asyncio
import json
import logging
from functools import cache
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client import ApiException

from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.controller import metrics

log = logging.getLogger(__name__)


@cache
def api_client() -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


class Refused(Exception):
    """The API server refused an object as invalid (400/422): creating it again cannot succeed."""


def _refusal(e: ApiException) -> str:
    try:
        return str(json.loads(e.body or "{}").get("message") or e.reason)
    except (TypeError, ValueError, AttributeError):
        return str(e.reason)


def _create(obj: dict[str, Any]) -> bool:
    """Create `obj`; False when it already exists (names are deterministic, so that is fine)."""
    api = api_client()
    ns = obj["metadata"]["namespace"]
    try:
        if obj["kind"] == "Job":
            client.BatchV1Api(api).create_namespaced_job(ns, cast(Any, obj))
        elif obj["kind"] == "ConfigMap":
            client.CoreV1Api(api).create_namespaced_config_map(ns, cast(Any, obj))
        else:
            raise ValueError(f"unexpected kind {obj['kind']}")
    except ApiException as e:
        if e.status == 409:
            return False
        if e.status in (400, 422):
            raise Refused(_refusal(e)) from e
        raise
    return True


async def create(obj: dict[str, Any]) -> bool:
    return await asyncio.to_thread(_create, obj)


def _delete_job(namespace: str, name: str) -> None:
    try:
        client.BatchV1Api(api_client()).delete_namespaced_job(
            name, namespace, propagation_policy="Background"
        )
    except ApiException as e:
        if e.status != 404:
            raise


async def delete_job(namespace: str, name: str) -> None:
    await asyncio.to_thread(_delete_job, namespace, name)


def _read_configmap_owner(namespace: str, name: str) -> str | None:
    try:
        cm = client.CoreV1Api(api_client()).read_namespaced_config_map(name, namespace)
    except ApiException as e:
        if e.status == 404:
            return None
        raise
    refs = (cm.metadata.owner_references if cm.metadata else None) or []
    return refs[0].uid if refs else None


async def configmap_owner(namespace: str, name: str) -> str | None:
    return await asyncio.to_thread(_read_configmap_owner, namespace, name)


def _patch_status(namespace: str, name: str, status: dict[str, Any]) -> None:
    api = client.CustomObjectsApi(api_client())
    for attempt in range(3):
        try:
            api.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, {"status": status}
            )
            return
        except ApiException as e:
            if e.status == 404:
                return
            if e.status in (409, 429, 500, 503) and attempt < 2:
                metrics.api_retries_total.labels("patch").inc()
                continue
            raise


async def patch_status(namespace: str, name: str, status: dict[str, Any]) -> None:
    await asyncio.to_thread(_patch_status, namespace, name, status)


def _delete_self(namespace: str, name: str) -> None:
    try:
        client.CustomObjectsApi(api_client()).delete_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
    except ApiException as e:
        if e.status != 404:
            raise


async def delete_job_resource(namespace: str, name: str) -> None:
    await asyncio.to_thread(_delete_self, namespace, name)
