"""Where the generator's model weights are: `generator.model` resolved to what vLLM loads.

- an absolute path: used as is, and must exist;
- `pvc://claim/path`: the claim mounted under $DATAFOUNDRY_PVC_ROOT (default /mnt/pvc);
- `s3://bucket/prefix`: downloaded once into $DATAFOUNDRY_MODEL_CACHE (default /tmp/datafoundry-models);
- anything else is a Hugging Face id, loaded from the image's cache or $HF_ENDPOINT by vLLM.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from datafoundry.storage import open_store
from datafoundry.workers.common import BadInput

ENV_PVC_ROOT = "DATAFOUNDRY_PVC_ROOT"
ENV_MODEL_CACHE = "DATAFOUNDRY_MODEL_CACHE"


def resolve_model(model: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    if model.startswith("/"):
        return _local(model, model)
    if model.startswith("pvc://"):
        root = Path(env.get(ENV_PVC_ROOT, "/mnt/pvc"))
        return _local(model, str(root / model[len("pvc://"):]))
    if model.startswith("s3://"):
        return _download(model, env)
    return model


def _local(ref: str, path: str) -> str:
    if not Path(path).exists():
        raise BadInput(f"generator.model {ref}: {path} does not exist")
    return path


def _download(uri: str, env: Mapping[str, str]) -> str:
    cache = Path(env.get(ENV_MODEL_CACHE, "/tmp/datafoundry-models"))
    target = cache / hashlib.sha256(uri.encode()).hexdigest()[:16]
    marker = target / ".complete"
    if marker.exists():
        return str(target)
    store = open_store(uri, env)
    keys = list(store.list(""))
    if not keys:
        raise BadInput(f"generator.model {uri}: no objects under this prefix")
    for key in keys:
        data = store.get(key)
        if data is None:
            continue
        path = target / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    marker.write_text(uri)
    return str(target)
