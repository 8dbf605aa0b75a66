"""Worker pod entrypoints: `datafoundry worker {generate|filter|dedup|publish}`.

Each stage is a module with `add_arguments(parser)` and `run(args) -> int`. Modules keep heavy
imports (vLLM, pyarrow) inside functions so `datafoundry --help` stays fast.
"""

from __future__ import annotations

from datafoundry.api.stages import Stage

#: The module of each stage, named after it.
STAGES: dict[Stage, str] = {stage: f"{__name__}.{stage.value}" for stage in Stage}
