"""Identity of the DataFoundryJob API: group, version, kind and names."""

from __future__ import annotations

from typing import Final

GROUP: Final = "datafoundry.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "DataFoundryJob"
PLURAL: Final = "datafoundryjobs"
SINGULAR: Final = "datafoundryjob"
SHORT_NAMES: Final = ("dfj",)
CATEGORIES: Final = ("datafoundry",)
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

#: Longest allowed ``metadata.name`` of a DataFoundryJob. Child objects are named
#: ``<job>-gen-<round>``, ``<job>-filter-<shard>`` etc. and Job names end up in 63-character
#: label values, so the job name leaves room for those suffixes.
MAX_NAME_LENGTH: Final = 40
