"""The worker contract: how the operator starts worker pods and how they report back.

A worker pod runs

    datafoundry worker {generate|filter|dedup|evaluate|publish} --plan /etc/datafoundry/plan.json --round R

with the shard index taken from `--shard` or, in an Indexed Job, from `JOB_COMPLETION_INDEX`.
The plan (the resolved recipe, see `datafoundry.pipeline.plan`) is a ConfigMap the operator owns,
mounted read-only at `PLAN_PATH`. S3 credentials come from the job's Secret through
`secretKeyRef` environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optionally
`AWS_SESSION_TOKEN`) or from the pod's identity; the endpoint from `AWS_ENDPOINT_URL`, the region
from `AWS_DEFAULT_REGION`, the CA bundle from `AWS_CA_BUNDLE` and a path or virtual-hosted
addressing style from `DATAFOUNDRY_S3_ADDRESSING_STYLE` (all from `spec.output`).

A worker writes its data and checkpoints under the staging prefix (`datafoundry.pipeline.layout`),
rewrites a small `Progress` object at most every `PROGRESS_MIN_INTERVAL_SECONDS`, writes
`_DONE.json` (a `Progress` with state `done`) when its shard is complete, and writes the same
final `Progress` to the container termination message. Exit codes: 0 done; `EXIT_BAD_INPUT` for
input that retrying cannot fix (the operator fails the job instead of retrying the shard); any
other non-zero code is retried up to the job's `backoffLimit` per shard.

What the final `Progress` of each stage means (the operator sums these into the status):

- generate, per shard of round R: `generated` records written, `parse_failures`, tokens.
- filter, per shard of round R: `accepted` records that passed every per-record filter,
  `rejected` by filter name. In curation mode (`spec.input`) also `generated` = records read.
- dedup, one per round R: CUMULATIVE over rounds 0..R after the global near-duplicate pass:
  `generated`, `accepted` (what publish will draw from), `rejected` (per filter, including the
  global dedup's drops), tokens. The operator compares its `accepted` with the target to decide
  on a top-up round, so it must count exactly what publish can use.
- evaluate (spec.evaluation.forgetting), one after the last dedup: `forgetting`, the guard's headline
  (status.evaluation.forgetting); the whole result is in staging for publish.
- publish: `accepted` = records published (generated plus replay), `bytes_written`,
  `manifest_uri`, `sha256` of the manifest, and with a decontamination filter its totals over
  all eval sets (`decontamination`: the manifest's `decontamination.totals`; per eval set they
  are in the manifest and the card only), and the quality report's headline indicators
  (`quality`, the keys of `status.output.quality`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from datafoundry.api import CamelModel
from datafoundry.api.stages import Stage

PLAN_PATH = "/etc/datafoundry/plan.json"
PLAN_MOUNT_DIR = "/etc/datafoundry"
PLAN_CONFIGMAP_KEY = "plan.json"
TERMINATION_LOG = "/dev/termination-log"
# Kubernetes keeps at most 4096 bytes of a termination message.
TERMINATION_MESSAGE_LIMIT = 4096
PROGRESS_MIN_INTERVAL_SECONDS = 5.0
METRICS_PORT = 9090

ENV_PLAN = "DATAFOUNDRY_PLAN"
ENV_ROUND = "DATAFOUNDRY_ROUND"
ENV_SHARD = "JOB_COMPLETION_INDEX"
ENV_METRICS_PORT = "DATAFOUNDRY_METRICS_PORT"
#: Where to write the termination message; only set where the file is not at the usual path.
ENV_TERMINATION_LOG = "DATAFOUNDRY_TERMINATION_LOG"
ENV_ENDPOINT = "AWS_ENDPOINT_URL"
ENV_CA_BUNDLE = "AWS_CA_BUNDLE"
ENV_ACCESS_KEY = "AWS_ACCESS_KEY_ID"
ENV_SECRET_KEY = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 - a variable name, not a secret
ENV_SESSION_TOKEN = "AWS_SESSION_TOKEN"  # noqa: S105 - a variable name
ENV_REGION = "AWS_DEFAULT_REGION"
#: `spec.output.addressingStyle` when not auto (path or virtual); boto3 has no variable of its own for it.
ENV_ADDRESSING_STYLE = "DATAFOUNDRY_S3_ADDRESSING_STYLE"
#: The longest line (bytes) a worker reads from a JSONL or text object; longer lines are malformed.
ENV_MAX_LINE_BYTES = "DATAFOUNDRY_MAX_LINE_BYTES"
#: The images the operator runs (with digests when configured so), given to the publish pod for the
#: manifest and the card; the operator reads the same variables as its configuration.
ENV_IMAGES = {
    "operator": "DATAFOUNDRY_OPERATOR_IMAGE",
    "generator": "DATAFOUNDRY_GENERATOR_IMAGE",
    "filter": "DATAFOUNDRY_FILTER_IMAGE",
}
#: The generator pods' GPU-hours as the operator counted them (`controller.gpu`), given to the
#: publish pod for the manifest and the card.
ENV_GPU_HOURS = "DATAFOUNDRY_GPU_HOURS"
#: The judge filter's endpoint API key, when its engine names its own Secret.
ENV_JUDGE_API_KEY = "DATAFOUNDRY_JUDGE_API_KEY"
#: Where a `pvc://claim/path` model's claim is mounted in the generator pod (the model is <dir>/<path>).
ENV_MODEL_CLAIM_DIR = "DATAFOUNDRY_MODEL_CLAIM_DIR"
#: Where the generator downloads an `s3://` model (`spec.generator.modelCache`, else under /tmp).
ENV_MODEL_CACHE = "DATAFOUNDRY_MODEL_CACHE"
DEFAULT_MODEL_CACHE = "/tmp/datafoundry-models"  # the pod's own /tmp emptyDir

#: Drops at generation (parse failures, screens) are named `generator/<reason>` in `rejected`.
GENERATOR_PREFIX = "generator/"

EXIT_OK = 0
EXIT_RETRYABLE = 1
EXIT_BAD_INPUT = 3


class BadInput(Exception):
    """Input that no retry can fix (unreadable seeds, invalid schema...): a worker exits with
    `EXIT_BAD_INPUT` and the job fails at once.

    The message names the object and, where there is one, the line.
    """

ShardState = Literal["running", "done", "failed"]
#: Which shard a `Progress` reports on: (stage, round, shard).
ShardKey = tuple[Stage, int, int]


class Progress(CamelModel):
    """What one shard of one stage has done so far; the operator sums these into the status."""

    stage: Stage
    round: int = Field(ge=0)
    shard: int = Field(ge=0)
    state: ShardState = "running"
    chunks_done: int = 0
    chunks_total: int = 0
    generated: int = 0
    #: Records toward the target (publish: every record it published).
    accepted: int = 0
    #: Self-generated replay records (mix.replay.generate) accepted besides them.
    accepted_replay: int = 0
    rejected: dict[str, int] = Field(default_factory=dict)
    parse_failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Publish only: the dataset it wrote.
    bytes_written: int = 0
    manifest_uri: str | None = None
    sha256: str | None = None
    #: Publish only, with a decontamination filter: items, indexed, shortItems, exactOnlyItems,
    #: emptyItems, matchedItems, records (see `datafoundry.publish.manifest.merge_decontamination`).
    decontamination: dict[str, int] | None = None
    #: Publish only: the quality report's headline indicators (`datafoundry.report.build.summary`).
    quality: dict[str, float | int | str | None] | None = None
    #: Generate (and the dedup summary): per strategy, prompts sent, records written and the
    #: records dropped at generation by each parse failure or screen (`datafoundry.strategies.screens`).
    strategies: dict[str, dict[str, int]] | None = None
    #: Evaluate only: the forgetting guard's headline (`datafoundry.evaluation.result.status`).
    forgetting: dict[str, Any] | None = None
    started_at: datetime | None = None
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    message: str = ""

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


def add_strategy_counts(total: Mapping[str, Mapping[str, int]], more: Mapping[str, Mapping[str, int]],
                        ) -> dict[str, dict[str, int]]:
    """Per-strategy counts (`Progress.strategies`) added up."""
    out = {name: dict(counts) for name, counts in total.items()}
    for name, counts in more.items():
        mine = out.setdefault(name, {})
        for key, n in counts.items():
            mine[key] = mine.get(key, 0) + n
    return out


def termination_message(progress: Progress) -> str:
    """The final counts, trimmed so Kubernetes keeps all of it (rejections by filter go first)."""
    text = progress.to_json()
    if len(text.encode()) <= TERMINATION_MESSAGE_LIMIT:
        return text
    slim = progress.model_copy(update={"rejected": {}, "strategies": None, "message": progress.message[:512]})
    return slim.to_json()


def write_termination_message(progress: Progress) -> None:
    """Best effort: outside a pod the usual path may not be writable, and that is fine."""
    path = os.environ.get(ENV_TERMINATION_LOG, TERMINATION_LOG)
    try:
        with open(path, "w") as f:
            f.write(termination_message(progress))
    except OSError:
        pass


def worker_args(stage: Stage, round_: int) -> list[str]:
    """The container args of a worker pod (the image's entrypoint is `datafoundry`)."""
    return ["worker", stage.value, "--plan", PLAN_PATH, "--round", str(round_)]
