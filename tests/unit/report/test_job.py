"""The report context a job gives: the seeds' prompts reach the novelty measure through the recipe."""

from __future__ import annotations

from pathlib import Path

import yaml

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.report import job
from datafoundry.report.dataset import report_for

QUICKSTART = yaml.safe_load((Path(__file__).resolve().parents[3] / "examples" / "quickstart.yaml").read_text())["spec"]


def test_context_carries_the_seeds_prompts() -> None:
    ctx = job.context(DataFoundryJobSpec.model_validate(QUICKSTART), {}, {}, None, None)
    assert list(ctx.seed_prompts) == [s["instruction"] for s in QUICKSTART["task"]["seeds"]["inline"]]
    no_seeds = {**QUICKSTART, "task": {k: v for k, v in QUICKSTART["task"].items() if k != "seeds"},
                "generator": {**QUICKSTART["generator"], "strategies": [{"name": "persona"}]}}
    assert job.context(DataFoundryJobSpec.model_validate(no_seeds), {}, {}, None, None).seed_prompts == []


def test_a_published_datasets_report_measures_novelty_from_its_recipe() -> None:
    records = [{"id": "a", "instruction": "How can I roll back a Deployment to its previous version?",
                "response": "kubectl rollout undo deployment/web."},
               {"id": "b", "instruction": "Why does a CronJob start two Jobs after the controller restarts?",
                "response": "It catches up on the schedules it missed; set startingDeadlineSeconds."}]
    report = report_for(records, manifest={"recipe": QUICKSTART, "records": 2}, env={})
    assert report["novelty"]["seeds"] == 4 and report["novelty"]["copiesSeed"] == 0.5
    assert report_for(records, manifest=None, env={})["novelty"] is None
