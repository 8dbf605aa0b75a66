"""The informer's slim child store: what it keeps, when it reports a change (which wakes a job)."""

from __future__ import annotations

import json
from typing import Any

from datafoundry.controller.informer import ChildStore, collection_path
from datafoundry.controller.observe import job_essentials, pod_config_error, pod_essentials, pod_outcome

OWNER = "datafoundry.io/job-uid"


def pod(name: str, owner: str | None, phase: str = "Running", ns: str = "a", **status: Any) -> dict[str, Any]:
    labels = {OWNER: owner} if owner else {}
    return {"metadata": {"namespace": ns, "name": name, "labels": labels, "annotations": {"x": "y"},
                         "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]},
            "spec": {"containers": [{"name": "w", "env": [{"name": "BIG", "value": "v" * 10000}]}]},
            "status": {"phase": phase, **status}}


def test_only_finished_pods_are_kept_and_only_their_read_fields() -> None:
    store = ChildStore(OWNER, pod_essentials)
    assert store.put(store.entry(pod("p0", "u1"))) is None, "a running pod is nothing the reconciler reads"
    assert len(store) == 0
    assert store.put(store.entry(pod("p0", "u1", "Succeeded"))) == "u1"
    [kept] = store.of("u1")
    assert set(kept) == {"metadata", "status"} and "managedFields" not in kept["metadata"]
    assert kept["status"]["phase"] == "Succeeded"
    # The same object again (a resync, a label change we do not read): no change, no wake-up.
    assert store.put(store.entry(pod("p0", "u1", "Succeeded"))) is None


def test_a_pod_that_cannot_start_is_kept_until_it_recovers() -> None:
    store = ChildStore(OWNER, pod_essentials)
    stuck = pod("p1", "u1", "Pending", containerStatuses=[
        {"name": "w", "state": {"waiting": {"reason": "CreateContainerConfigError", "message": "secret missing"}}}])
    assert store.put(store.entry(stuck)) == "u1"
    assert store.put(store.entry(pod("p1", "u1", "Running"))) == "u1", "dropping it is a change too"
    assert "u1" not in store and len(store) == 0


def test_jobs_are_grouped_by_owner_and_deleted_by_name() -> None:
    store = ChildStore(OWNER, job_essentials)
    job = {"metadata": {"namespace": "a", "name": "j-gen-r0", "labels": {OWNER: "u1", "stage": "generate"},
                        "managedFields": [{}]},
           "spec": {"completions": 4, "completionMode": "Indexed",
                    "template": {"spec": {"containers": [{"args": ["--round", "0"], "image": "x"}]}}},
           "status": {"active": 4}}
    assert store.put(store.entry(job)) == "u1"
    assert store.put(store.entry({**job, "metadata": {**job["metadata"], "name": "j-filter-r0-s0"}})) == "u1"
    assert store.put(store.entry({**job, "metadata": {**job["metadata"], "namespace": "b", "labels": {
        OWNER: "u2"}}})) == "u2", "same name in another namespace is another child"
    assert sorted(j["metadata"]["name"] for j in store.of("u1")) == ["j-filter-r0-s0", "j-gen-r0"]
    assert store.of("u1")[0]["spec"] == {"completions": 4, "completionMode": "Indexed"}, "no pod template is kept"
    assert store.put(store.entry({**job, "status": {"active": 3, "succeeded": 1}})) == "u1"
    # A DELETED event's object may have lost the owner label: the name finds it.
    assert store.delete(store.entry({"metadata": {"namespace": "a", "name": "j-gen-r0"}})) == "u1"
    assert [j["metadata"]["name"] for j in store.of("u1")] == ["j-filter-r0-s0"]
    assert store.delete(store.entry({"metadata": {"namespace": "a", "name": "gone"}})) is None


def test_a_relisting_reports_exactly_the_owners_whose_children_differ() -> None:
    store = ChildStore(OWNER, pod_essentials)
    for entry in (pod("p0", "u1", "Succeeded"), pod("p1", "u2", "Succeeded"), pod("p2", "u3", "Failed")):
        store.put(store.entry(entry))
    # While the watch was down: u2's pod was deleted, u3's unchanged, u4's pod finished.
    changed = store.replace([store.entry(p) for p in (
        pod("p0", "u1", "Succeeded"), pod("p2", "u3", "Failed"), pod("p9", "u4", "Succeeded"), pod("p8", "u5"))])
    assert changed == {"u2", "u4"}
    assert len(store) == 3 and "u2" not in store and "u5" not in store


def test_collection_paths() -> None:
    assert collection_path("v1", "pods", None) == "/api/v1/pods"
    assert collection_path("batch/v1", "jobs", "team-a") == "/apis/batch/v1/namespaces/team-a/jobs"


def test_pod_essentials_reads_the_same_as_the_whole_pod() -> None:
    """The reconciler's view of a pod must not change by keeping only its slim form."""
    result = json.dumps({"stage": "generate", "round": 0, "shard": 2, "generated": 7, "accepted": 5,
                         "updatedAt": "2026-11-29T10:00:00Z"})
    finished = pod("j-gen-r0-2-abc", "u1", "Succeeded", containerStatuses=[{
        "name": "w", "image": "gen:1", "imageID": "sha256:x", "containerID": "containerd://y", "ready": False,
        "lastState": {}, "state": {"terminated": {"exitCode": 0, "reason": "Completed", "message": result,
                                                   "startedAt": "t0", "finishedAt": "t1"}}}])
    finished["metadata"]["labels"]["batch.kubernetes.io/job-name"] = "j-gen-r0"
    finished["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] = "2"
    stuck = pod("j-filter-r0-s1-x", "u1", "Pending", containerStatuses=[
        {"name": "w", "state": {"waiting": {"reason": "CreateContainerConfigError", "message": "no secret s3"}}}])
    for whole in (finished, stuck):
        slim = pod_essentials(whole)
        assert slim is not None
        assert pod_outcome(slim) == pod_outcome(whole)
        assert pod_config_error(slim) == pod_config_error(whole)
    outcome = pod_outcome(pod_essentials(finished) or {})
    assert outcome is not None and outcome.index == 2 and outcome.progress is not None
