"""`_apply` acts on a decision: creates, then deletes, one Event per pass for each naming the children,
and a Warning naming the child whose create or delete failed (the pass ends there)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import kopf
import pytest

from datafoundry.controller import kube, reasons, reconcile_pass
from datafoundry.controller.reconcile import Decision


class Cluster:
    def __init__(self, existing: Iterable[str] = (), failing: Iterable[str] = ()) -> None:
        self.existing, self.failing = set(existing), set(failing)
        self.calls: list[str] = []
        self.events: list[tuple[str, str, str]] = []

    async def create(self, obj: dict[str, Any]) -> bool:
        name = obj["metadata"]["name"]
        self.calls.append(f"create {name}")
        if name in self.failing:
            raise RuntimeError("quota")
        return name not in self.existing

    async def delete_job(self, namespace: str, name: str) -> None:
        self.calls.append(f"delete {namespace}/{name}")
        if name in self.failing:
            raise RuntimeError("forbidden")

    def event(self, body: Any, *, type: str, reason: str, message: str) -> None:
        self.events.append((type, reason, message))


def apply(monkeypatch: pytest.MonkeyPatch, cluster: Cluster, creates: list[str], deletes: list[str]) -> None:
    monkeypatch.setattr(kube, "create", cluster.create)
    monkeypatch.setattr(kube, "delete_job", cluster.delete_job)
    monkeypatch.setattr(kopf, "event", cluster.event)
    decision = Decision(creates=[{"kind": "Job", "metadata": {"name": n}} for n in creates], deletes=deletes)
    asyncio.run(reconcile_pass._apply({}, "ns", decision))


def test_one_event_for_the_creates_and_one_for_the_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(existing={"b"})
    apply(monkeypatch, cluster, ["a", "b", "c"], ["x", "y"])
    assert cluster.calls == ["create a", "create b", "create c", "delete ns/x", "delete ns/y"]
    assert cluster.events == [("Normal", reasons.CREATED_JOB, "created Job a, Job c"),
                              ("Normal", reasons.DELETED_JOB, "deleted Job x, Job y")]


def test_a_failed_create_names_its_child_and_ends_the_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(failing={"b"})
    with pytest.raises(RuntimeError, match="quota"):
        apply(monkeypatch, cluster, ["a", "b", "c"], ["x"])
    assert cluster.calls == ["create a", "create b"]
    assert cluster.events == [("Warning", reasons.FAILED_TO_CREATE_JOB, "Job b: quota"),
                              ("Normal", reasons.CREATED_JOB, "created Job a")]


def test_a_failed_delete_names_its_child(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(failing={"y"})
    with pytest.raises(RuntimeError, match="forbidden"):
        apply(monkeypatch, cluster, [], ["x", "y", "z"])
    assert cluster.calls == ["delete ns/x", "delete ns/y"]
    assert cluster.events == [("Warning", reasons.FAILED_TO_DELETE_JOB, "Job y: forbidden"),
                              ("Normal", reasons.DELETED_JOB, "deleted Job x")]
