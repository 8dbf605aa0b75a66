"""What the operator reads back from an existing plan ConfigMap (its owner and the hash of the plan it
holds): the hash recorded in status.planHash after a restart
(test bed: tests/integration/test_gpu_budget_on_test_bed.py)."""

from __future__ import annotations

from datafoundry.controller import children as ch
from datafoundry.controller.owner import Owner

UID = "11111111-2222-3333-4444-555555555555"


def test_plan_facts_read_the_owner_and_the_hash_the_configmap_holds() -> None:
    cm = ch.plan_configmap(Owner("ns", "demo", UID), '{"recipeHash": "old"}')
    assert ch.plan_facts(cm) == (UID, "old")
    assert ch.plan_facts({"metadata": {}, "data": {"plan.json": "not json"}}) == (None, None)


