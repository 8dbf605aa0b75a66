"""Worker pod entrypoints: `datafoundry worker {generate|filter|dedup|publish}`.

Each stage is a module with `add_arguments(parser)` and `run(args) -> int`. Modules keep heavy
imports (vLLM, pyarrow) inside functions so `datafoundry --help` stays fast.
"""

from __future__ import annotations

STAGES: dict[str, str] = {
    "generate": "datafoundry.workers.generate",
    "filter": "datafoundry.workers.filter",
    "dedup": "datafoundry.workers.dedup",
    "publish": "datafoundry.workers.publish",
}
