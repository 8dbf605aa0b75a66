"""The label keys the operator puts on the objects it creates (child Jobs, their pods, the plan
ConfigMap); ours are under the API group, the others are the ones Kubernetes and Kueue read."""

from __future__ import annotations

from typing import Final

from datafoundry.api.meta import GROUP

LABEL_JOB_NAME: Final = f"{GROUP}/job-name"
LABEL_JOB_UID: Final = f"{GROUP}/job-uid"
#: A `datafoundry.api.stages.Stage` value.
LABEL_STAGE: Final = f"{GROUP}/stage"
LABEL_ROUND: Final = f"{GROUP}/round"
LABEL_SHARD: Final = f"{GROUP}/shard"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "datafoundry-operator"
LABEL_KUEUE_QUEUE: Final = "kueue.x-k8s.io/queue-name"
