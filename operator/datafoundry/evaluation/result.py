"""The forgetting guard's result: the losses it measured, as changes, and the gate's verdict (pure).

The same dict goes into quality.json (`forgetting`), the manifest and the card; `status` is the part
the operator copies into status.evaluation.forgetting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datafoundry.api.spec import Forgetting, GateAction

#: Runs by name: the mix as published (with its replay), and as many domain records without replay.
MIX, DOMAIN_ONLY = "mix", "domainOnly"


@dataclass(frozen=True)
class Run:
    records: int
    replay_records: int
    steps: int
    examples: int
    tokens: int
    seconds: float
    train_loss_first: float
    train_loss_last: float
    domain_loss: float
    general_loss: float


def change_pct(after: float, before: float) -> float:
    """(after - before) / before in percent, rounded to 0.01."""
    return round((after - before) / before * 100.0, 2) + 0.0 if before else 0.0


def _gain(after: float, before: float) -> float:
    """How much lower `after` is than `before`, in percent of it."""
    return round((before - after) / before * 100.0, 2) + 0.0 if before else 0.0


def run_report(run: Run, domain_before: float, general_before: float) -> dict[str, Any]:
    return {
        "records": run.records, "replayRecords": run.replay_records, "steps": run.steps, "examples": run.examples,
        "tokens": run.tokens, "seconds": round(run.seconds, 2),
        "trainLoss": {"first": round(run.train_loss_first, 4), "last": round(run.train_loss_last, 4)},
        "domainLoss": round(run.domain_loss, 4), "generalLoss": round(run.general_loss, 4),
        "domainGainPct": _gain(run.domain_loss, domain_before),
        "generalLossIncreasePct": change_pct(run.general_loss, general_before),
    }


def report(settings: Forgetting, *, model: str, device: str, seed: int, held_out: dict[str, Any],
           domain_before: float, general_before: float, runs: dict[str, Run]) -> dict[str, Any]:
    """The whole result. `runs` has MIX, and DOMAIN_ONLY when the mix's sample holds replay records."""
    out: dict[str, Any] = {
        "model": model,
        "device": device,
        "settings": {"steps": settings.steps, "batchSize": settings.batch_size,
                     "learningRate": settings.learning_rate, "maxTokens": settings.max_tokens,
                     "sampleRecords": settings.sample_records, "seed": seed,
                     "lora": {"rank": settings.lora.rank, "alpha": settings.lora.alpha}},
        "heldOut": held_out,
        "before": {"domainLoss": round(domain_before, 4), "generalLoss": round(general_before, 4)},
        **{name: run_report(run, domain_before, general_before) for name, run in runs.items()},
    }
    if MIX in out and DOMAIN_ONLY in out:
        # How many points of general loss increase the replay saved.
        out["replayBenefitPct"] = round(out[DOMAIN_ONLY]["generalLossIncreasePct"]
                                        - out[MIX]["generalLossIncreasePct"], 2)
    gate = settings.gate
    if gate is not None:
        increase = out[MIX]["generalLossIncreasePct"]
        out["gate"] = {"maxGeneralLossIncreasePct": gate.max_general_loss_increase_pct, "action": gate.action.value,
                       "passed": increase <= gate.max_general_loss_increase_pct}
    return out


def status(result: dict[str, Any]) -> dict[str, Any]:
    """The headline of `result` for status.evaluation.forgetting (see api.status.ForgettingStatus)."""
    mix, domain_only, gate = result[MIX], result.get(DOMAIN_ONLY), result.get("gate")
    out: dict[str, Any] = {
        "model": result["model"],
        "steps": mix["steps"],
        "domainGainPct": mix["domainGainPct"],
        "generalLossIncreasePct": mix["generalLossIncreasePct"],
    }
    if domain_only is not None:
        out["domainGainPctWithoutReplay"] = domain_only["domainGainPct"]
        out["generalLossIncreasePctWithoutReplay"] = domain_only["generalLossIncreasePct"]
    if gate is not None:
        out["maxGeneralLossIncreasePct"] = gate["maxGeneralLossIncreasePct"]
        out["passed"] = gate["passed"]
    return out


def verdict(result: dict[str, Any]) -> tuple[bool, GateAction | None, str]:
    """(within the limit, the gate's action, a sentence saying so); (True, None, ...) without a gate."""
    mix, gate = result[MIX], result.get("gate")
    text = (f"fine-tuning {result['model']} for {mix['steps']} steps on the mix lowered the domain loss by "
            f"{mix['domainGainPct']}% and changed the general loss by {mix['generalLossIncreasePct']:+}%")
    if DOMAIN_ONLY in result:
        text += f" ({result[DOMAIN_ONLY]['generalLossIncreasePct']:+}% without replay)"
    if gate is None:
        return True, None, text
    limit = gate["maxGeneralLossIncreasePct"]
    passed = bool(gate["passed"])
    text += f"; the limit is +{limit}%" if passed else f", above evaluation.forgetting.gate's +{limit}%"
    return passed, GateAction(gate["action"]), text
