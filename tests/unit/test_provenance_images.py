"""The operator hands its configured images (digests when it has them) to the publish pod, and the
manifest and the card record them (tests/e2e/test_provenance.py runs it on the test bed)."""

from __future__ import annotations

from typing import Any

import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.controller import children as ch
from datafoundry.controller.config import OperatorConfig
from datafoundry.controller.owner import Owner
from datafoundry.publish import card
from datafoundry.publish import manifest as mf

OWNER = Owner("ns", "j", "u")
DIGEST = "sha256:" + "ab" * 32
CONFIG = OperatorConfig(
    operator_image=f"registry.example/datafoundry/operator:0.1.0@{DIGEST}",
    generator_image=f"registry.example/datafoundry/generator@{DIGEST.replace('ab', 'cd')}",
    filter_image=f"registry.example/datafoundry/filter@{DIGEST.replace('ab', 'ef')}",
)
OUTPUT = {"uri": "s3://bucket/out", "credentials": {"secretRef": {"name": "s3"}}}


def generation(**generator: Any) -> DataFoundryJobSpec:
    return DataFoundryJobSpec.model_validate({
        "task": {"domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 10}, "generator": {"model": "org/tiny", **generator}, "output": OUTPUT})


CURATION = DataFoundryJobSpec.model_validate({
    "input": {"uris": ["s3://bucket/in/"]}, "target": {"records": 5}, "output": OUTPUT})


def container_env(job: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}


def test_the_publish_pod_gets_every_image_of_the_job() -> None:
    env = container_env(ch.publish_job(OWNER, generation(), CONFIG, 1))
    assert env["DATAFOUNDRY_OPERATOR_IMAGE"] == CONFIG.operator_image
    assert env["DATAFOUNDRY_GENERATOR_IMAGE"] == CONFIG.generator_image
    assert env["DATAFOUNDRY_FILTER_IMAGE"] == CONFIG.filter_image
    # What the publish worker reads back is what ran the job's pods.
    assert mf.images_from_env(env) == {
        "operator": CONFIG.operator_image, "generator": CONFIG.generator_image, "filter": CONFIG.filter_image}
    gen = ch.generate_job(OWNER, generation(), CONFIG, 0, 4)
    assert gen["spec"]["template"]["spec"]["containers"][0]["image"] == CONFIG.generator_image
    filt = ch.filter_job(OWNER, generation(), CONFIG, 0, 0)
    assert filt["spec"]["template"]["spec"]["containers"][0]["image"] == CONFIG.filter_image


def test_the_jobs_own_generator_image_is_the_one_recorded() -> None:
    own = "registry.example/team/generator@" + DIGEST
    spec = generation(image=own)
    assert ch.generate_job(OWNER, spec, CONFIG, 0, 4)["spec"]["template"]["spec"]["containers"][0][
        "image"] == own
    assert container_env(ch.publish_job(OWNER, spec, CONFIG, 1))["DATAFOUNDRY_GENERATOR_IMAGE"] == own


def test_a_curation_job_records_no_generator_and_an_unknown_operator_image_is_left_out() -> None:
    config = OperatorConfig(filter_image="registry.example/datafoundry/filter:0.1.0")
    assert ch.images(CURATION, config) == {"filter": "registry.example/datafoundry/filter:0.1.0"}
    env = container_env(ch.publish_job(OWNER, CURATION, config, 1))
    assert "DATAFOUNDRY_GENERATOR_IMAGE" not in env and "DATAFOUNDRY_OPERATOR_IMAGE" not in env


def test_only_the_publish_pod_carries_them() -> None:
    spec = generation()
    for job in (ch.generate_job(OWNER, spec, CONFIG, 0, 4), ch.filter_job(OWNER, spec, CONFIG, 0, 0),
                ch.dedup_job(OWNER, spec, CONFIG, 0)):
        assert not {"DATAFOUNDRY_OPERATOR_IMAGE", "DATAFOUNDRY_FILTER_IMAGE"} & set(container_env(job))


def test_the_operator_reads_its_images_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAFOUNDRY_OPERATOR_IMAGE", CONFIG.operator_image or "")
    monkeypatch.setenv("DATAFOUNDRY_GENERATOR_IMAGE", CONFIG.generator_image)
    monkeypatch.setenv("DATAFOUNDRY_FILTER_IMAGE", CONFIG.filter_image)
    config = OperatorConfig.from_env()
    assert ch.images(generation(), config) == ch.images(generation(), CONFIG)
    monkeypatch.delenv("DATAFOUNDRY_OPERATOR_IMAGE")
    assert OperatorConfig.from_env().operator_image is None


def provenance(text: str) -> list[str]:
    section = text.split("## Provenance\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line]


def render(images: dict[str, str] | None) -> str:
    return card.render(job_name="j", spec=generation(), plan_spec={"filters": []}, recipe_hash="h", uid="u",
                       generation=1, funnel={"generated": 1, "accepted": 1, "rejected": {}}, shards=[],
                       generated=1, replay=0, fmt="jsonl", ext="jsonl", images=images)


def test_the_card_names_the_images_in_its_provenance() -> None:
    images = ch.images(generation(), CONFIG)
    lines = provenance(render(images))
    assert (f"- images: operator `{CONFIG.operator_image}`, generator `{CONFIG.generator_image}`, "
            f"filter `{CONFIG.filter_image}`") in lines
    assert any(line.startswith("- recipe sha256:") for line in lines)
    # A local run (`datafoundry run`) has no images to name, and says so.
    assert "- images: not recorded (run outside the operator, e.g. `datafoundry run`)" in provenance(render(None))
