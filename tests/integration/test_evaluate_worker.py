"""The forgetting guard's worker (spec.evaluation.forgetting) on SmolLM2-135M-Instruct, against the
test bed's S3: real Kubernetes Q&A records as the domain, general prose records as the self-generated
replay, the filter and dedup workers before it and the publish worker after it, all as subprocesses."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from datafoundry.api.stages import Stage
from datafoundry.evaluation.result import DOMAIN_ONLY, MIX
from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import EXIT_BAD_INPUT
from datafoundry.testing.prose import question, text
from datafoundry.testing.testbed import S3
from datafoundry.testing.workers import WorkerJob, gen_spec
from datafoundry.workers import staging

pytestmark = pytest.mark.integration

QA = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "kubernetes-qa.jsonl"
SCHEMA = Path(__file__).resolve().parents[2] / "operator" / "datafoundry" / "report" / "quality.schema.json"


def _domain() -> list[dict[str, Any]]:
    return [{"id": f"k{i}", **json.loads(line), "meta": {"strategy": "selfInstruct"}}
            for i, line in enumerate(QA.read_text().splitlines())]


def _general(n: int) -> list[dict[str, Any]]:
    rng = random.Random(5)
    return [{"id": f"g{i}", "instruction": question(rng), "response": text(rng, 3), "meta": {"strategy": "replaySelf"}}
            for i in range(n)]


def _job(s3: S3, tmp_path: Path, model: Path, forgetting: dict[str, Any],
         general: list[dict[str, Any]] | None = None) -> WorkerJob:
    """A job whose round 0 generated the 20 Q&A records and 7 general ones, filtered and deduplicated;
    `general`: records of an object given as evaluation.forgetting.generalUri."""
    job = WorkerJob.on_s3(s3, tmp_path)
    if general is not None:
        data = "".join(json.dumps(r) + "\n" for r in general).encode()
        forgetting = {**forgetting, "generalUri": job.put("general/records.jsonl", data)}
    job.setup(gen_spec(target={"records": 20}, generator={"model": str(model), "shards": 1},
                       filters=[{"type": "exactDedup"}], mix={"replay": {"generate": {}, "ratio": 0.25}},
                       evaluation={"forgetting": forgetting}))
    job.stage_gen(0, 0, [[*_domain(), *_general(7)]])
    job.ok("filter", 0, 0)
    assert job.ok("dedup", 0).accepted_replay == 7
    return job


SMALL = {"steps": 2, "batchSize": 2, "maxTokens": 128, "heldOutRecords": 4, "sampleRecords": 8}


def test_guard_measures_mix_and_domain_only_resumes_and_publishes_its_result(
        s3: S3, tmp_path: Path, smollm2_model: Path) -> None:
    job = _job(s3, tmp_path, smollm2_model, {**SMALL, "gate": {"maxGeneralLossIncreasePct": 50, "action": "Fail"}})
    p = job.ok("evaluate", 0)
    result = json.loads(job.store.get(staging.forgetting_key(job.uid, 0)) or b"{}")
    # 20 domain records and 7 replay records published (ratio 0.25): 4 of each held out; the mix sample is
    # 8 records with the published share of replay (8 * 7/27 -> 2), the domain-only run 8 domain records.
    assert result["heldOut"] == {"domain": 4, "general": 4, "generalSource": "replay-self"}
    mix, domain_only = result[MIX], result[DOMAIN_ONLY]
    assert (mix["records"], mix["replayRecords"], domain_only["records"], domain_only["replayRecords"]) == (8, 2, 8, 0)
    assert mix["steps"] == domain_only["steps"] == 2 and mix["examples"] == 4
    assert mix["tokens"] > 0 and domain_only["tokens"] > 0
    before = result["before"]
    assert 0 < before["domainLoss"] < 10 and 0 < before["generalLoss"] < 10  # a real instruct model's NLL
    for run in (mix, domain_only):
        increase = (run["generalLoss"] - before["generalLoss"]) / before["generalLoss"] * 100
        assert run["generalLossIncreasePct"] == pytest.approx(increase, abs=0.02)
        gain = (before["domainLoss"] - run["domainLoss"]) / before["domainLoss"] * 100
        assert run["domainGainPct"] == pytest.approx(gain, abs=0.02)
        assert run["domainLoss"] != before["domainLoss"]  # the adapter was trained and measured
    assert result["replayBenefitPct"] == pytest.approx(
        domain_only["generalLossIncreasePct"] - mix["generalLossIncreasePct"], abs=0.011)
    assert result["gate"] == {"maxGeneralLossIncreasePct": 50, "action": "Fail",
                              "passed": mix["generalLossIncreasePct"] <= 50}
    assert result["settings"]["lora"] == {"rank": 8, "alpha": 16}
    # the status' headline
    assert p.forgetting == {"model": str(smollm2_model), "steps": 2, "domainGainPct": mix["domainGainPct"],
                            "generalLossIncreasePct": mix["generalLossIncreasePct"],
                            "domainGainPctWithoutReplay": domain_only["domainGainPct"],
                            "generalLossIncreasePctWithoutReplay": domain_only["generalLossIncreasePct"],
                            "maxGeneralLossIncreasePct": 50, "passed": result["gate"]["passed"]}
    assert "without replay" in p.message

    # Resumable: each finished run is kept in staging and a retried pod does not train it again (a
    # piece altered here comes back in the result).
    piece = layout.join(layout.shard_prefix(job.uid, Stage.EVALUATE, 0, 0), f"{MIX}.json")
    kept = json.loads(job.store.get(piece) or b"{}")
    job.store.put(piece, json.dumps({**kept, "domain_loss": 0.5}).encode(), "application/json")
    job.store.delete_prefix(layout.done_key(job.uid, Stage.EVALUATE, 0, 0))
    job.ok("evaluate", 0)
    resumed = json.loads(job.store.get(staging.forgetting_key(job.uid, 0)) or b"{}")
    assert resumed[MIX]["domainLoss"] == 0.5 and resumed[DOMAIN_ONLY] == domain_only
    job.store.put(piece, json.dumps(kept).encode(), "application/json")
    job.store.delete_prefix(layout.done_key(job.uid, Stage.EVALUATE, 0, 0))
    job.ok("evaluate", 0)

    job.ok("publish", 0)
    manifest, records = job.published()
    assert len(records) == 27
    quality = json.loads(job.store.get(layout.QUALITY) or b"{}")
    assert quality["forgetting"] == manifest["evaluation"]["forgetting"] == result
    import jsonschema

    jsonschema.validate(quality, json.loads(SCHEMA.read_text()))
    card = (job.store.get(layout.CARD) or b"").decode()
    assert "## Forgetting guard" in card
    assert f"| the mix | 8 (2) | {mix['tokens']} | {mix['domainLoss']} | {mix['domainGainPct']:+}% |" in card
    assert f"| domain records only | 8 (0) | {domain_only['tokens']} | {domain_only['domainLoss']} |" in card


def test_guard_on_a_harmful_fine_tune_reports_forgetting_beyond_the_gate(
        s3: S3, tmp_path: Path, smollm2_model: Path) -> None:
    """A learning rate far too high for LoRA wrecks the model on everything: the general loss, measured on
    general records of their own (generalUri), rises far beyond a 5% gate, and the worker reports the gate
    failed (the operator fails the job on it, or warns)."""
    rng = random.Random(8)
    general = [{"instruction": question(rng), "response": text(rng, 3)} for _ in range(9)]
    job = _job(s3, tmp_path, smollm2_model, {**SMALL, "learningRate": 0.05,
                                             "gate": {"maxGeneralLossIncreasePct": 5, "action": "Warn"}}, general)
    p = job.ok("evaluate", 0)
    result = json.loads(job.store.get(staging.forgetting_key(job.uid, 0)) or b"{}")
    assert result["heldOut"] == {"domain": 4, "general": 4, "generalSource": "generalUri",
                                 "generalUri": job.uri("general/records.jsonl")}
    # every published replay record may be trained on: 8 * 7/27 -> 2 of the 7
    assert (result[MIX]["records"], result[MIX]["replayRecords"]) == (8, 2)
    assert result["settings"]["learningRate"] == 0.05
    assert p.forgetting is not None and p.forgetting["passed"] is False
    assert p.forgetting["generalLossIncreasePct"] > 5
    assert "above evaluation.forgetting.gate's +5.0%" in p.message


@pytest.mark.parametrize(("setting", "says"), [
    ({"heldOutRecords": 20}, "evaluation.forgetting.heldOutRecords=20: the dataset has 20 domain records"),
    # SmolLM2's chat template writes a default system turn longer than 16 tokens before every prompt
    ({"maxTokens": 16}, "evaluation.forgetting.maxTokens=16: no answer token of the 4 held-out domain records"),
])
def test_guard_that_cannot_measure_fails_at_once_naming_the_field(
        s3: S3, tmp_path: Path, smollm2_model: Path, setting: dict[str, int], says: str) -> None:
    job = _job(s3, tmp_path, smollm2_model, {**SMALL, **setting})
    code, progress, output = job.worker("evaluate", 0)
    assert code == EXIT_BAD_INPUT, output
    assert progress is not None and says in progress.message
