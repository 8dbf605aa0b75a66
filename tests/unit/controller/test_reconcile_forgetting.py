"""The forgetting guard's stage in the state machine (spec.evaluation.forgetting): its Job between the
last dedup and publish, its progress and result in the status, and the gate that stops or warns."""

from __future__ import annotations

from typing import Any

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import conditions as cond
from datafoundry.controller import reasons
from datafoundry.controller.observe import observe
from datafoundry.controller.reconcile import Decision, decide
from datafoundry.controller.status import build_status
from datafoundry.controller.status_events import status_events
from datafoundry.pipeline.contract import Progress
from datafoundry.testing import specs

from .test_reconcile import CONFIG, OWNER, _round, created_names, job, pod

HEADLINE = {"model": "org/tiny", "steps": 20, "domainGainPct": 12.5, "generalLossIncreasePct": 8.25,
            "domainGainPctWithoutReplay": 14.0, "generalLossIncreasePctWithoutReplay": 19.5}
SENTENCE = "fine-tuning org/tiny for 20 steps on the mix lowered the domain loss by 12.5% and ..."


Objects = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def final_round() -> Objects:
    """Round 0 met the target and the replay's share: the last dedup is done."""
    jobs, _ = _round(0, accepted=120, generated=200)
    summary = Progress(stage="dedup", round=0, shard=0, generated=200, accepted=120, accepted_replay=40)
    return jobs, [pod("demo-dedup-r0", 0, summary)]


def spec_with(gate: dict[str, Any] | None = None, **forgetting: Any) -> DataFoundryJobSpec:
    return specs.make_spec(target={"records": 100, "overgenerate": 2.0}, budget={"maxRounds": 3},
                           mix={"replay": {"generate": {}, "ratio": 0.2}},
                           evaluation={"forgetting": {**forgetting, **({"gate": gate} if gate else {})}},
                           generator={"model": "pvc://models/tiny", "shards": 2, "nodeSelector": {"pool": "gpu"}})


def status_of(d: Decision, old: dict[str, Any] | None = None) -> dict[str, Any]:
    return build_status(old or {}, d, generation=1, target=100, output_uri="s3://bucket/out", plan_hash="h",
                        plan_config_map="demo-plan")


def decided(spec: DataFoundryJobSpec, jobs: list[dict[str, Any]], pods: list[dict[str, Any]],
            live: dict[Any, Progress] | None = None) -> Decision:
    return decide(owner=OWNER, spec=spec, observed=observe(jobs, pods), config=CONFIG, start_time=None, live=live)


def evaluated(result: dict[str, Any] | None, message: str = SENTENCE) -> Objects:
    jobs, pods = final_round()
    jobs.append(job("demo-eval", "evaluate", 0, complete=True))
    pods.append(pod("demo-eval", 0, Progress(stage="evaluate", round=0, shard=0, state="done", forgetting=result,
                                             message=message)))
    return jobs, pods


def test_after_the_last_dedup_the_guard_runs_placed_like_the_generator_before_publish() -> None:
    jobs, pods = final_round()
    d = decided(spec_with(), jobs, pods)
    assert created_names(d) == ["demo-eval"] and d.stage == "Evaluating"
    assert d.filtered_done and d.shards["evaluate"].total == 1
    manifest = d.creates[0]
    pod_spec = manifest["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    assert container["args"][:2] == ["worker", "evaluate"] and container["args"][-2:] == ["--round", "0"]
    assert container["image"] == CONFIG.generator_image
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod_spec["nodeSelector"] == {"pool": "gpu"}
    assert manifest["metadata"]["labels"]["datafoundry.io/stage"] == "evaluate"
    # the generator's pvc:// model, delivered as its pods get it
    assert {"name": "model", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}} in pod_spec["volumes"]
    status = status_of(d)
    assert status["phase"] == "Evaluating" and status["shards"]["evaluate"]["total"] == 1


def test_a_named_model_gets_no_generator_model_volume_and_a_cpu_generator_no_gpu() -> None:
    jobs, pods = final_round()
    spec = spec_with(model="HuggingFaceTB/SmolLM2-135M-Instruct")
    spec.generator.gpus_per_shard = 0  # type: ignore[union-attr]
    pod_spec = decided(spec, jobs, pods).creates[0]["spec"]["template"]["spec"]
    assert not any(v["name"] == "model" for v in pod_spec["volumes"])
    assert "nvidia.com/gpu" not in pod_spec["containers"][0]["resources"]["limits"]


def test_the_running_guard_s_progress_is_the_progressing_message() -> None:
    jobs, pods = final_round()
    jobs.append(job("demo-eval", "evaluate", 0, active=1))
    live = {("evaluate", 0, 0): Progress(stage="evaluate", round=0, shard=0, chunks_done=13, chunks_total=40,
                                         message="mix: step 13 of 20, training loss 1.234")}
    d = decided(spec_with(), jobs, pods, live)  # type: ignore[arg-type]
    assert d.creates == [] and d.shards["evaluate"].active == 1
    progressing = cond.find(status_of(d)["conditions"], cond.PROGRESSING)
    assert progressing is not None and progressing["message"] == "evaluating: mix: step 13 of 20, training loss 1.234"


def test_within_the_gate_publishes_with_the_guard_s_headline_in_the_status() -> None:
    jobs, pods = evaluated({**HEADLINE, "maxGeneralLossIncreasePct": 10.0, "passed": True})
    d = decided(spec_with({"maxGeneralLossIncreasePct": 10}), jobs, pods)
    assert created_names(d) == ["demo-publish"] and d.stage == "Publishing"
    status = status_of(d)
    assert status["evaluation"]["forgetting"] == {**HEADLINE, "maxGeneralLossIncreasePct": 10.0, "passed": True}
    guard = cond.find(status["conditions"], cond.FORGETTING_GUARD)
    assert guard is not None and (guard["status"], guard["reason"], guard["message"]) == (
        "True", reasons.WITHIN_LIMIT, SENTENCE)
    assert status["shards"]["evaluate"]["succeeded"] == 1


def test_without_a_gate_the_guard_measures_and_publishing_goes_on() -> None:
    jobs, pods = evaluated(HEADLINE)
    d = decided(spec_with(), jobs, pods)
    assert created_names(d) == ["demo-publish"]
    guard = cond.find(status_of(d)["conditions"], cond.FORGETTING_GUARD)
    assert guard is not None and (guard["status"], guard["reason"]) == ("True", reasons.MEASURED)


def test_beyond_a_fail_gate_the_job_fails_and_nothing_is_published() -> None:
    message = "..., above evaluation.forgetting.gate's +5.0%"
    jobs, pods = evaluated({**HEADLINE, "maxGeneralLossIncreasePct": 5.0, "passed": False}, message)
    d = decided(spec_with({"maxGeneralLossIncreasePct": 5}), jobs, pods)
    assert d.creates == [] and d.failed == (reasons.FORGETTING_LIMIT_EXCEEDED, f"{message}: nothing is published")
    old = status_of(decided(spec_with({"maxGeneralLossIncreasePct": 5}), *final_round()))
    new = status_of(d, old)
    assert new["phase"] == "Failed" and new["evaluation"]["forgetting"]["passed"] is False
    guard = cond.find(new["conditions"], cond.FORGETTING_GUARD)
    assert guard is not None and (guard["status"], guard["reason"]) == ("False", reasons.FORGETTING_LIMIT_EXCEEDED)
    warnings = [e for e in status_events(old, new) if e.type == "Warning"]
    assert {e.reason for e in warnings} == {"Failed", reasons.FORGETTING_LIMIT_EXCEEDED}


def test_beyond_a_warn_gate_the_job_publishes_and_succeeds_with_a_warning() -> None:
    message = "..., above evaluation.forgetting.gate's +5.0%"
    spec = spec_with({"maxGeneralLossIncreasePct": 5, "action": "Warn"})
    jobs, pods = evaluated({**HEADLINE, "maxGeneralLossIncreasePct": 5.0, "passed": False}, message)
    d = decided(spec, jobs, pods)
    assert created_names(d) == ["demo-publish"] and d.failed is None
    jobs.append(job("demo-publish", "publish", 0, complete=True))
    pods.append(pod("demo-publish", 0, Progress(stage="publish", round=0, shard=0, accepted=100,
                                              manifest_uri="s3://bucket/out/manifest.json")))
    d = decided(spec, jobs, pods)
    assert d.succeeded == (reasons.PUBLISHED, f"published 100 records; warning: {message}")
    new = status_of(d)
    guard = cond.find(new["conditions"], cond.FORGETTING_GUARD)
    assert new["phase"] == "Succeeded" and guard is not None and guard["status"] == "False"
    assert any(e.type == "Warning" and e.reason == reasons.FORGETTING_LIMIT_EXCEEDED for e in status_events({}, new))


def test_a_guard_that_reports_no_result_fails_the_job() -> None:
    jobs, pods = evaluated(None)
    d = decided(spec_with(), jobs, pods)
    assert d.creates == [] and d.failed is not None and d.failed[0] == reasons.MISSING_RESULT


def test_a_job_without_the_guard_goes_from_dedup_to_publish() -> None:
    jobs, pods = final_round()
    d = decided(specs.make_spec(target={"records": 100, "overgenerate": 2.0}), jobs, pods)
    assert created_names(d) == ["demo-publish"] and "evaluate" not in status_of(d)["shards"]
