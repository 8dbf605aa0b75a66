"""The stages of a DataFoundryJob, in the order a round runs them.

A stage's value is its name everywhere the operator, the workers and local mode meet: the worker
subcommand (`datafoundry worker generate`), the child Job's stage label and container name, the
`stage` of a shard's progress report, the metrics' stage label and the status' shard counters.
`short` is the name in staging keys and child Job names, which stay short.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    GENERATE = "generate"
    FILTER = "filter"
    DEDUP = "dedup"
    #: The forgetting guard (spec.evaluation.forgetting), between the last dedup and publish.
    EVALUATE = "evaluate"
    PUBLISH = "publish"

    @property
    def short(self) -> str:
        """`gen` for generate, `eval` for evaluate, the value for the others (staging directories, child Job
        names)."""
        return {Stage.GENERATE: "gen", Stage.EVALUATE: "eval"}.get(self, self.value)
