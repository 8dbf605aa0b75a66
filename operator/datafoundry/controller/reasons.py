"""Condition and event reasons, in one place (CamelCase, paired Created/FailedTo... as upstream)."""

from __future__ import annotations

# Conditions
ACCEPTED = "Accepted"
INVALID_SPEC = "InvalidSpec"
STAGE_RUNNING = "StageRunning"
SUSPENDED = "Suspended"
RESUMED = "Resumed"
SHARD_FAILED = "ShardFailed"
BAD_INPUT = "BadInput"
DEADLINE_EXCEEDED = "DeadlineExceeded"
MISSING_RESULT = "MissingResult"
POD_CONFIG_ERROR = "PodConfigError"
PUBLISHED = "Published"
BUDGET_EXHAUSTED = "BudgetExhausted"
ALL_SHARDS_DONE = "AllShardsDone"
#: ForgettingGuard (spec.evaluation.forgetting): the mix within the gate's limit, or measured without a gate.
WITHIN_LIMIT = "WithinLimit"
MEASURED = "Measured"
#: ForgettingGuard False, and Failed with gate.action Fail (also the Warning event with Warn).
FORGETTING_LIMIT_EXCEEDED = "ForgettingLimitExceeded"
#: Kueue (spec.queueName): every unfinished child Job is suspended, waiting for admission.
WAITING_FOR_ADMISSION = "WaitingForAdmission"
#: Kueue suspended a child Job after it had started (preemption, eviction).
PREEMPTED = "Preempted"

# Events (paired)
CREATED_JOB = "CreatedJob"
FAILED_TO_CREATE_JOB = "FailedToCreateJob"
CREATED_PLAN = "CreatedPlan"
DELETED_JOB = "DeletedJob"
FAILED_TO_DELETE_JOB = "FailedToDeleteJob"
CLEANED_STAGING = "CleanedStaging"
FAILED_TO_CLEAN_STAGING = "FailedToCleanStaging"
