"""The operator's child watches against the real API server: list, watch, wake-ups (restarts of the API
server under a running operator: tests/e2e/test_faults.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from datafoundry.api.keys import LABEL_JOB_UID
from datafoundry.controller import kube as opkube
from datafoundry.controller.informer import Children
from datafoundry.controller.observe import job_essentials
from datafoundry.testing.testbed import Kube

pytestmark = pytest.mark.integration


def suspended_job(name: str, owner: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": {LABEL_JOB_UID: owner}},
            "spec": {"suspend": True, "template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "w", "image": "example.invalid/none:1", "args": ["--round", "0"]}]}}}}


@pytest.fixture
def as_admin(kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opkube, "api_client", lambda: kube.api)


async def _until(what: str, probe: Any, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.mark.usefixtures("as_admin")
def test_children_are_listed_then_watched_and_each_change_wakes_its_owner(kube: Kube, namespace: str) -> None:
    kube.batch.create_namespaced_job(namespace, suspended_job("before", "owner-a"))
    kube.batch.create_namespaced_job(namespace, {**suspended_job("unlabelled", "x"), "metadata": {
        "name": "unlabelled"}})

    async def scenario() -> None:
        woken: list[set[str]] = []
        children = Children(LABEL_JOB_UID, job=job_essentials, pod=lambda _: None)
        children.start((namespace,), on_change=woken.append)
        try:
            await asyncio.wait_for(children.listed(), 30)
            assert [j["metadata"]["name"] for j in children.jobs.of("owner-a")] == ["before"]
            assert len(children.jobs) == 1, "the label selector keeps other Jobs out"
            assert {"owner-a"} in woken
            woken.clear()
            await asyncio.to_thread(kube.batch.create_namespaced_job, namespace, suspended_job("after", "owner-b"))
            await _until("the new Job", lambda: "owner-b" in children.jobs)
            assert {"owner-b"} in woken and not any("owner-a" in w for w in woken)
            await asyncio.to_thread(kube.batch.delete_namespaced_job, "before", namespace,
                                    propagation_policy="Background")
            await _until("the deletion", lambda: "owner-a" not in children.jobs)
            assert any("owner-a" in w for w in woken)
        finally:
            children.stop()

    asyncio.run(scenario())
