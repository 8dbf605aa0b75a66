"""The least-privilege RBAC the operator runs with, as data (the chart and the tests use it).

Every rule names why it exists. No Secrets: pods reference them and the kubelet resolves them.
"""

from __future__ import annotations

from typing import Any

from datafoundry.api.meta import GROUP, PLURAL

# (apiGroups, resources, verbs, why)
RULES: tuple[tuple[list[str], list[str], list[str], str], ...] = (
    ([GROUP], [PLURAL], ["get", "list", "watch", "patch", "delete"],
     "watch jobs; patch kopf's finalizer and annotations; delete after ttlSecondsAfterFinished"),
    ([GROUP], [f"{PLURAL}/status"], ["get", "patch", "update"], "write status"),
    ([GROUP], [f"{PLURAL}/finalizers"], ["update"],
     "set ownerReferences with blockOwnerDeletion on children"),
    (["batch"], ["jobs"], ["get", "list", "watch", "create", "delete"],
     "create stage Jobs, follow them, stop them on suspend/deadline (never update: Kueue owns suspend)"),
    ([""], ["pods"], ["get", "list", "watch"], "read finished workers' termination messages"),
    ([""], ["configmaps"], ["get", "create"], "write each job's plan ConfigMap"),
    ([""], ["events"], ["create", "patch"], "Events for phase changes and failures"),
    (["events.k8s.io"], ["events"], ["create", "patch"], "Events through the newer API"),
)

# Only with `--peering`: kopf's own leader election between replicas.
PEERING_RULES: tuple[tuple[list[str], list[str], list[str], str], ...] = (
    (["kopf.dev"], ["clusterkopfpeerings", "kopfpeerings"], ["get", "list", "watch", "patch"],
     "kopf peering: one active replica, the others stand by"),
)


def policy_rules(peering: bool = False) -> list[dict[str, Any]]:
    rules = RULES + (PEERING_RULES if peering else ())
    return [{"apiGroups": g, "resources": r, "verbs": v} for g, r, v, _ in rules]


def cluster_role(name: str = "datafoundry-operator", peering: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": policy_rules(peering),
    }
