"""The forgetting guard's result: losses as changes, the replay's benefit and the gate's verdict."""

from __future__ import annotations

from typing import Any

from datafoundry.api.spec import Forgetting, GateAction
from datafoundry.evaluation.result import DOMAIN_ONLY, MIX, Run, change_pct, report, status, verdict


def run(domain: float, general: float, replay: int = 0) -> Run:
    return Run(records=32, replay_records=replay, steps=20, examples=80, tokens=9000, seconds=12.345,
               train_loss_first=2.0, train_loss_last=1.5, domain_loss=domain, general_loss=general)


def result(gate: dict[str, Any] | None = None, **runs: Run) -> dict[str, Any]:
    settings = Forgetting.model_validate({"steps": 20, **({"gate": gate} if gate else {})})
    return report(settings, model="org/m", device="cpu", seed=7,
                  held_out={"domain": 32, "general": 32, "generalSource": "replay-self"},
                  domain_before=2.0, general_before=1.6, runs=runs)


def test_changes_are_percent_of_the_loss_before() -> None:
    out = result(**{MIX: run(1.5, 1.68, replay=6), DOMAIN_ONLY: run(1.4, 1.84)})
    assert (out[MIX]["domainGainPct"], out[MIX]["generalLossIncreasePct"]) == (25.0, 5.0)
    assert (out[DOMAIN_ONLY]["domainGainPct"], out[DOMAIN_ONLY]["generalLossIncreasePct"]) == (30.0, 15.0)
    assert out["replayBenefitPct"] == 10.0
    assert out[MIX]["replayRecords"] == 6 and out[MIX]["seconds"] == 12.35
    assert out["settings"] == {"steps": 20, "batchSize": 4, "learningRate": 0.001, "maxTokens": 512,
                               "sampleRecords": 256, "seed": 7, "lora": {"rank": 8, "alpha": 16}}
    assert change_pct(1.0, 2.0) == -50.0 and str(change_pct(2.0, 2.0)) == "0.0"


def test_the_gate_passes_at_its_limit_and_fails_beyond_it() -> None:
    at = result({"maxGeneralLossIncreasePct": 5}, **{MIX: run(1.5, 1.68)})
    beyond = result({"maxGeneralLossIncreasePct": 4.9, "action": "Warn"}, **{MIX: run(1.5, 1.68)})
    assert at["gate"] == {"maxGeneralLossIncreasePct": 5.0, "action": "Fail", "passed": True}
    assert verdict(at)[:2] == (True, GateAction.FAIL)
    passed, action, text = verdict(beyond)
    assert (passed, action) == (False, GateAction.WARN)
    assert text.endswith("changed the general loss by +5.0%, above evaluation.forgetting.gate's +4.9%")


def test_the_status_headline_has_both_runs_and_the_gate() -> None:
    out = result({"maxGeneralLossIncreasePct": 10}, **{MIX: run(1.5, 1.68), DOMAIN_ONLY: run(1.4, 1.84)})
    assert status(out) == {"model": "org/m", "steps": 20, "domainGainPct": 25.0, "generalLossIncreasePct": 5.0,
                           "domainGainPctWithoutReplay": 30.0, "generalLossIncreasePctWithoutReplay": 15.0,
                           "maxGeneralLossIncreasePct": 10.0, "passed": True}
    assert "(+15.0% without replay); the limit is +10.0%" in verdict(out)[2]


def test_without_replay_or_gate_there_is_one_run_and_no_verdict_to_act_on() -> None:
    out = result(**{MIX: run(1.5, 1.68)})
    assert DOMAIN_ONLY not in out and "replayBenefitPct" not in out and "gate" not in out
    assert status(out) == {"model": "org/m", "steps": 20, "domainGainPct": 25.0, "generalLossIncreasePct": 5.0}
    assert verdict(out)[:2] == (True, None)
