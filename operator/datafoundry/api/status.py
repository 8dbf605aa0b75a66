"""The DataFoundryJob status: conditions (the truth), a derived phase, progress, shards and output.

The status schema is strict (no preserved unknown fields): anything the operator writes must be
modelled here, or the API server prunes it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Final, Literal, Self

from pydantic import Field, field_serializer, model_validator

from datafoundry.api._base import APIModel
from datafoundry.api.types import CONDITION_REASON, MAX_LABEL, MAX_NAME, MAX_URI, SHA256_HEX


class Phase(StrEnum):
    """Summary of the conditions for humans and the printer column."""

    PENDING = "Pending"
    GENERATING = "Generating"
    FILTERING = "Filtering"
    EVALUATING = "Evaluating"
    PUBLISHING = "Publishing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"


class ConditionType(StrEnum):
    """Condition types (adjectives / past-tense verbs per the API conventions)."""

    ACCEPTED = "Accepted"
    PROGRESSING = "Progressing"
    GENERATED = "Generated"
    FILTERED = "Filtered"
    #: spec.evaluation.forgetting: True when the mix stays within the gate (or there is none), False beyond it.
    FORGETTING_GUARD = "ForgettingGuard"
    PUBLISHED = "Published"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"


# Plain-string aliases for code that prefers constants.
ACCEPTED: Final = ConditionType.ACCEPTED.value
PROGRESSING: Final = ConditionType.PROGRESSING.value
GENERATED: Final = ConditionType.GENERATED.value
FILTERED: Final = ConditionType.FILTERED.value
FORGETTING_GUARD: Final = ConditionType.FORGETTING_GUARD.value
PUBLISHED: Final = ConditionType.PUBLISHED.value
SUCCEEDED: Final = ConditionType.SUCCEEDED.value
FAILED: Final = ConditionType.FAILED.value
SUSPENDED: Final = ConditionType.SUSPENDED.value

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(APIModel):
    """A metav1.Condition."""

    type: str = Field(
        min_length=1,
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        description=(
            "Condition type: Accepted, Progressing, Generated, Filtered, ForgettingGuard, Published, Succeeded, "
            "Failed, Suspended."
        ),
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation the condition was set for."
    )
    last_transition_time: datetime = Field(description="When status last changed (RFC 3339).")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=CONDITION_REASON,
        description="One-word CamelCase reason for the last transition.",
    )
    message: str = Field(default="", max_length=32768, description="Human-readable details.")


class ProgressStatus(APIModel):
    """Record counts aggregated from the workers' progress reports."""

    target: int = Field(default=0, ge=0, description="Accepted records wanted (spec.target.records).")
    generated: int = Field(default=0, ge=0, description="Records generated so far (or read, with input).")
    accepted: int = Field(default=0, ge=0, description="Records that passed every filter.")
    rejected: dict[Annotated[str, Field(max_length=MAX_LABEL)], Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, max_length=64, description="Rejected records by filter name."
    )
    replay: int = Field(default=0, ge=0, description="Replay records mixed into the output.")
    percent: int = Field(default=0, ge=0, le=100, description="accepted / target in percent, capped at 100.")
    display: str | None = Field(
        default=None,
        max_length=64,
        description="Progress for the printer column, e.g. '42%'; always derived from percent.",
    )
    eta_seconds: int | None = Field(default=None, ge=0, description="Estimated seconds until the target is met.")
    prompt_tokens: int = Field(default=0, ge=0, description="Prompt tokens processed.")
    completion_tokens: int = Field(default=0, ge=0, description="Completion tokens generated.")
    gpu_hours: float | None = Field(
        default=None,
        ge=0,
        description=(
            "GPU-hours used by the generator pods so far: each pod's nvidia.com/gpu count times the time it held "
            "them (pod startTime to container finishedAt; a running pod up to now), every retry and every round "
            "included; pods with gpusPerShard 0 (or the openai engine) count 0. Never decreases, also when pods "
            "are deleted. Compared with spec.budget.maxGPUHours."
        ),
    )
    gpu_hours_of_deleted_pods: float | None = Field(
        default=None,
        ge=0,
        description="The part of gpuHours from generator pods that no longer exist (kept so the total survives them).",
    )
    round: int = Field(default=0, ge=0, le=100, description="Current generation round (1 = first round).")
    last_update_time: datetime | None = Field(default=None, description="When the counts were last aggregated.")

    @model_validator(mode="after")
    def _derive_display(self) -> Self:
        if self.display is None:
            self.display = f"{self.percent}%"
        return self

    @field_serializer("display")
    def _serialize_display(self, value: str | None) -> str:
        # Always consistent with percent, also after model_copy(update={"percent": ...}).
        return f"{self.percent}%"


class ShardCounts(APIModel):
    """Shard counters of one stage."""

    total: int = Field(default=0, ge=0, description="Shards in the stage.")
    active: int = Field(default=0, ge=0, description="Shards running.")
    succeeded: int = Field(default=0, ge=0, description="Shards finished.")
    failed: int = Field(default=0, ge=0, description="Shards failed for good (retries exhausted).")


class Shards(APIModel):
    """Shard counters per stage."""

    generate: ShardCounts = Field(default_factory=ShardCounts, description="Generator shards (current round).")
    filter: ShardCounts = Field(default_factory=ShardCounts, description="Filter shards (current round).")
    dedup: ShardCounts = Field(default_factory=ShardCounts, description="Global near-duplicate pass shards.")
    evaluate: ShardCounts = Field(
        default_factory=ShardCounts, description="The forgetting guard's shard (spec.evaluation.forgetting)."
    )
    publish: ShardCounts = Field(default_factory=ShardCounts, description="Dedup/mix/publish shards.")


class DecontaminationStatus(APIModel):
    """Decontamination totals over all eval sets; per eval set in manifest.json and the card."""

    items: int = Field(default=0, ge=0, description="Evaluation items read from the eval sets.")
    indexed: int = Field(default=0, ge=0, description="Items that can be matched: every item with at least one word.")
    short_items: int = Field(
        default=0,
        ge=0,
        description="Items with fewer words than ngram: matched whole (as a word sequence), not by n-grams.",
    )
    exact_only_items: int = Field(
        default=0,
        ge=0,
        description="Of the short items, those under 5 words: matched only by equality with whole fields.",
    )
    empty_items: int = Field(default=0, ge=0, description="Items without any word: they cannot match anything.")
    matched_items: int = Field(default=0, ge=0, description="Distinct items found in the records.")
    records: int = Field(default=0, ge=0, description="Records dropped as contaminated.")


class QualityStatus(APIModel):
    """Headline indicators of the quality report (`quality.json` beside the manifest has them all)."""

    report_uri: str | None = Field(default=None, max_length=MAX_URI, description="URI of quality.json.")
    distinct2: float | None = Field(
        default=None, ge=0, le=1, description="Distinct word pairs over all word pairs, on the report's sample."
    )
    self_bleu: float | None = Field(
        default=None, ge=0, le=1, description="Self-BLEU-4 on a sample: high means records read like copies."
    )
    repeated_ngram_share: float | None = Field(
        default=None, ge=0, le=1, description="Share of sampled records sharing a 10-word phrase with another."
    )
    compression_ratio: float | None = Field(
        default=None, ge=0, description="Sampled text bytes over their gzip size: high means repetitive."
    )
    stopword_share: float | None = Field(
        default=None, ge=0, le=1, description="Share of words that are the language's stop words (prose: 0.3-0.5)."
    )
    domain_similarity: float | None = Field(
        default=None, ge=-1, le=1, description="Median similarity of records to the domain text, seeds and documents."
    )
    off_domain_share: float | None = Field(
        default=None, ge=0, le=1, description="Share of sampled records under the report's domain threshold."
    )
    warnings: int | None = Field(default=None, ge=0, description="Findings at warning level in the report.")


class OutputStatus(APIModel):
    """The published dataset."""

    uri: str | None = Field(default=None, max_length=MAX_URI, description="Dataset prefix.")
    records: int | None = Field(default=None, ge=0, description="Records published (generated plus replay).")
    bytes: int | None = Field(default=None, ge=0, description="Bytes published in data shards.")
    manifest_uri: str | None = Field(default=None, max_length=MAX_URI, description="URI of manifest.json.")
    sha256: str | None = Field(default=None, pattern=SHA256_HEX, description="SHA-256 of manifest.json (hex).")
    published_time: datetime | None = Field(default=None, description="When the manifest was written.")
    decontamination: DecontaminationStatus | None = Field(
        default=None, description="Decontamination totals, with a decontamination filter."
    )
    quality: QualityStatus | None = Field(default=None, description="Headline indicators of quality.json.")


class ForgettingStatus(APIModel):
    """The forgetting guard's headline; quality.json's `forgetting` beside the manifest has all of it."""

    model: str | None = Field(default=None, max_length=1024, description="The model fine-tuned.")
    steps: int | None = Field(default=None, ge=0, description="Optimizer steps of each fine-tuning run.")
    domain_gain_pct: float | None = Field(
        default=None, description="How much lower the held-out domain loss is after fine-tuning on the mix, in %."
    )
    general_loss_increase_pct: float | None = Field(
        default=None, description="Change of the held-out general loss after fine-tuning on the mix, in %."
    )
    domain_gain_pct_without_replay: float | None = Field(
        default=None, description="domainGainPct after fine-tuning on as many domain records only (no replay)."
    )
    general_loss_increase_pct_without_replay: float | None = Field(
        default=None, description="generalLossIncreasePct after fine-tuning on as many domain records only."
    )
    max_general_loss_increase_pct: float | None = Field(
        default=None, description="The gate's limit (spec.evaluation.forgetting.gate)."
    )
    passed: bool | None = Field(default=None, description="Whether the mix stayed within the gate's limit.")


class EvaluationStatus(APIModel):
    """What the dataset did to a model (spec.evaluation)."""

    forgetting: ForgettingStatus | None = Field(default=None, description="The forgetting guard's headline.")


class DataFoundryJobStatus(APIModel):
    """Observed state of a DataFoundryJob, written by the operator."""

    phase: Phase | None = Field(default=None, description="Summary of the conditions.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation the status was computed for."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        max_length=16,
        description="Conditions: Accepted, Progressing, Generated, Filtered, ForgettingGuard, Published, Succeeded, "
        "Failed, Suspended.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    progress: ProgressStatus | None = Field(default=None, description="Record counts.")
    shards: Shards | None = Field(default=None, description="Shard counters per stage.")
    start_time: datetime | None = Field(
        default=None, description="When the first child Job was created; the recipe is immutable from then on."
    )
    completion_time: datetime | None = Field(default=None, description="When the job succeeded or failed.")
    output: OutputStatus | None = Field(default=None, description="The published dataset.")
    evaluation: EvaluationStatus | None = Field(
        default=None, description="What the dataset did to a model (spec.evaluation), before it was published."
    )
    plan_hash: str | None = Field(
        default=None, max_length=128, description="Hash of the resolved plan (recipe) the children were built from."
    )
    plan_config_map: str | None = Field(
        default=None, max_length=MAX_NAME, description="Name of the ConfigMap holding the resolved plan."
    )


__all__ = [
    "ACCEPTED",
    "FAILED",
    "FILTERED",
    "FORGETTING_GUARD",
    "GENERATED",
    "PROGRESSING",
    "PUBLISHED",
    "SUCCEEDED",
    "SUSPENDED",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "DataFoundryJobStatus",
    "DecontaminationStatus",
    "EvaluationStatus",
    "ForgettingStatus",
    "OutputStatus",
    "Phase",
    "ProgressStatus",
    "ShardCounts",
    "Shards",
]
