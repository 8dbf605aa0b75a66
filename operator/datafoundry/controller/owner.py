"""The DataFoundryJob that owns a set of child objects, as one value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datafoundry.api.meta import API_VERSION, KIND


@dataclass(frozen=True)
class Owner:
    """Identity of one DataFoundryJob: every child it owns is named after `name`, lives in `namespace`
    and points back at `uid` (a job recreated under the same name has a new uid, so never owns the
    previous job's children)."""

    namespace: str
    name: str
    uid: str

    def reference(self) -> dict[str, Any]:
        """The controller ownerReference every child carries (the garbage collector follows it)."""
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
