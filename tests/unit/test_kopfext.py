"""The two kopf adjustments for scale: no deep copy of child Jobs and pods on every event, and no
wake-up storm while a restarted operator lists thousands of objects (see controller/kopfext.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from kopf._cogs.aiokits import aiotoggles

from datafoundry.api.meta import API_VERSION, GROUP, KIND
from datafoundry.controller.kopfext import OwnDiffBaseStorage, quiet_index_readiness


def test_only_the_custom_resource_has_an_essence() -> None:
    ours = OwnDiffBaseStorage(prefix=GROUP, key="last-handled-configuration")
    kopfs = kopf.AnnotationsDiffBaseStorage(prefix=GROUP, key="last-handled-configuration")
    job = kopf.Body({"apiVersion": API_VERSION, "kind": KIND,
                     "metadata": {"name": "a", "labels": {"x": "y"}, "managedFields": [{"manager": "m"}]},
                     "spec": {"target": {"records": 10}}, "status": {"phase": "Generating"}})
    assert ours.build(body=job) == kopfs.build(body=job)
    assert ours.build(body=job)["spec"] == {"target": {"records": 10}}
    pod = kopf.Body({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                     "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Running"}})
    assert ours.build(body=pod) == {}
    assert kopfs.build(body=pod) != {}  # what it costs without: a deep copy of every pod event


def counting_notifications(toggles: aiotoggles.ToggleSet) -> list[int]:
    count = [0]
    condition: Any = toggles._condition
    original = condition.notify_all

    def notify_all() -> None:
        count[0] += 1
        original()

    condition.notify_all = notify_all
    return count


def test_listing_many_objects_wakes_the_waiters_once_not_once_per_object() -> None:
    quiet_index_readiness()
    quiet_index_readiness()  # idempotent

    async def scenario() -> tuple[int, bool]:
        toggles = aiotoggles.ToggleSet(all)
        notified = counting_notifications(toggles)
        kind = await toggles.make_toggle(name="jobs not listed yet")
        objects = [await toggles.make_toggle(name=f"pod {i} not indexed") for i in range(200)]
        waiters = [asyncio.create_task(toggles.wait_for(True)) for _ in range(200)]  # each object's worker
        await asyncio.sleep(0)
        for toggle in objects:
            await toggles.drop_toggle(toggle)
            await toggles.drop_toggle(toggle)  # kopf drops some twice
        await asyncio.sleep(0)
        released_early = any(w.done() for w in waiters)
        await toggles.drop_toggles([kind])
        await asyncio.wait_for(asyncio.gather(*waiters), timeout=5)
        return notified[0], released_early

    notified, released_early = asyncio.run(scenario())
    assert not released_early  # the Jobs were not listed yet: nobody may start
    assert notified == 2  # off when the first toggle came, on when the last went (unpatched: 602 wake-ups of all)


def test_a_pause_still_pauses_and_resumes() -> None:
    quiet_index_readiness()

    async def scenario() -> None:
        paused = aiotoggles.ToggleSet(any)
        notified = counting_notifications(paused)
        conflict = await paused.make_toggle(True, name="another operator")
        await asyncio.wait_for(paused.wait_for(True), timeout=5)
        resumed = asyncio.create_task(paused.wait_for(False))
        await asyncio.sleep(0)
        assert not resumed.done()
        await conflict.turn_to(False)  # a member turning off wakes waiters as before
        await asyncio.wait_for(resumed, timeout=5)
        await paused.drop_toggle(conflict)  # already off: the set's state does not change
        assert notified[0] == 2  # the make (off -> on) and the turn (on -> off)

    asyncio.run(scenario())


def test_the_operator_asks_the_api_server_only_for_its_children_and_lists_in_pages() -> None:
    from kopf._cogs.structs import references

    from datafoundry.controller import children as ch
    from datafoundry.controller.handlers import configure

    settings = kopf.OperatorSettings()
    configure(settings=settings)

    def resource(group: str, version: str, plural: str, kind: str) -> references.Resource:
        return references.Resource(group=group, version=version, plural=plural, kind=kind, namespaced=True)

    selectors = settings.watching.label_selectors
    assert selectors.collect(resource("", "v1", "pods", "Pod")) == [ch.LABEL_JOB_UID]
    assert selectors.collect(resource("batch", "v1", "jobs", "Job")) == [ch.LABEL_JOB_UID]
    assert selectors.collect(resource(GROUP, "v1alpha1", "datafoundryjobs", KIND)) == []  # every job
    assert settings.watching.chunk_size == 500
    assert isinstance(settings.persistence.diffbase_storage, OwnDiffBaseStorage)
