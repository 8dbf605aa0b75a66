"""What every worker shares: loading the plan, finding its shard, reporting progress, failing well.

A worker is `run(args) -> int` plus `add_arguments(parser)` in its own module; `datafoundry worker
<stage>` dispatches to it (see `datafoundry.workers.STAGES`). Exit codes and objects follow
`datafoundry.pipeline.contract`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.api.stages import Stage
from datafoundry.pipeline import contract, layout
from datafoundry.pipeline.contract import BadInput, Progress
from datafoundry.pipeline.output_env import output_env
from datafoundry.pipeline.plan import Plan
from datafoundry.storage import ObjectStore, open_store

log = logging.getLogger("datafoundry.worker")


@dataclass
class WorkerContext:
    stage: Stage
    plan: Plan
    spec: DataFoundryJobSpec
    round: int
    shard: int
    store: ObjectStore

    @property
    def uid(self) -> str:
        return self.plan.job.uid


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", default=os.environ.get(contract.ENV_PLAN, contract.PLAN_PATH),
                        help="the plan JSON (default: $DATAFOUNDRY_PLAN or the mounted ConfigMap)")
    parser.add_argument("--round", type=int, default=int(os.environ.get(contract.ENV_ROUND, "0")))
    parser.add_argument("--shard", type=int, default=None,
                        help="shard index (default: $JOB_COMPLETION_INDEX, else 0)")


def load_context(stage: Stage, args: argparse.Namespace) -> WorkerContext:
    try:
        plan = Plan.model_validate_json(Path(args.plan).read_text())
    except FileNotFoundError as e:
        raise BadInput(f"plan {args.plan}: not found") from e
    except ValueError as e:
        raise BadInput(f"plan {args.plan}: {e}") from e
    spec = DataFoundryJobSpec.model_validate(plan.spec)
    shard = args.shard if args.shard is not None else int(os.environ.get(contract.ENV_SHARD, "0"))
    store = open_store(spec.output.uri, output_env(spec))
    return WorkerContext(stage=stage, plan=plan, spec=spec, round=args.round, shard=shard, store=store)


class ProgressReporter:
    """Rewrites the shard's progress object at most every `interval` seconds (and always at the end)."""

    def __init__(self, ctx: WorkerContext, interval: float = contract.PROGRESS_MIN_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ctx = ctx
        self.interval = interval
        self.clock = clock
        self._last = float("-inf")
        self.progress = Progress(stage=ctx.stage, round=ctx.round, shard=ctx.shard, started_at=datetime.now(UTC))

    @property
    def key(self) -> str:
        return layout.progress_key(self.ctx.uid, self.ctx.stage, self.ctx.round, self.ctx.shard)

    def update(self, force: bool = False) -> bool:
        """Write if the interval has passed (or `force`); returns whether it wrote."""
        now = self.clock()
        if not force and now - self._last < self.interval:
            return False
        self.progress.updated_at = datetime.now(UTC)
        try:
            self.ctx.store.put(self.key, self.progress.to_json().encode(), "application/json")
        except Exception as e:  # progress is advisory; the data and _DONE objects are what count
            log.warning("could not write progress %s: %s", self.key, e)
            return False
        self._last = now
        return True

    def finish(self) -> Progress:
        """Mark done, write `_DONE.json`, the progress object and the termination message."""
        self.progress.state = "done"
        self.progress.updated_at = datetime.now(UTC)
        done = layout.done_key(self.ctx.uid, self.ctx.stage, self.ctx.round, self.ctx.shard)
        self.ctx.store.put(done, self.progress.to_json().encode(), "application/json")
        self.update(force=True)
        contract.write_termination_message(self.progress)
        return self.progress


def finished(ctx: WorkerContext) -> Progress | None:
    """The final counts of this shard if a previous attempt completed it (reruns are no-ops)."""
    data = ctx.store.get(layout.done_key(ctx.uid, ctx.stage, ctx.round, ctx.shard))
    return Progress.model_validate_json(data) if data else None


def run_worker(stage: Stage, args: argparse.Namespace, body: Callable[[WorkerContext], Progress]) -> int:
    """Run `body` with the contract's error handling: exit codes and a termination message always."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        stream=sys.stderr)
    shard = args.shard if args.shard is not None else int(os.environ.get(contract.ENV_SHARD, "0"))
    try:
        ctx = load_context(stage, args)
        done = finished(ctx)
        if done is not None:
            log.info("%s round %d shard %d already done; nothing to do", stage, ctx.round, ctx.shard)
            contract.write_termination_message(done)
            return contract.EXIT_OK
        body(ctx)
        return contract.EXIT_OK
    except BadInput as e:
        log.error("bad input: %s", e)
        contract.write_termination_message(Progress(stage=stage, round=args.round, shard=shard, state="failed",
                                                    message=f"bad input: {e}"))
        return contract.EXIT_BAD_INPUT
    except Exception as e:
        log.exception("%s failed", stage)
        contract.write_termination_message(Progress(stage=stage, round=args.round, shard=shard, state="failed",
                                                    message=f"{type(e).__name__}: {e}"))
        return contract.EXIT_RETRYABLE
