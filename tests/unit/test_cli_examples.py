"""Every ready-to-apply example passes the same offline validation as `datafoundry validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from datafoundry.cli import main

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def test_one_example_per_task_type_and_a_curation_job() -> None:
    import yaml

    kinds = set()
    for path in EXAMPLES:
        spec = yaml.safe_load(path.read_text())["spec"]
        kinds.add(spec["task"].get("type", "instruction") if spec.get("task") else "curation")
    assert kinds >= {"instruction", "qa", "dialogue", "classification", "preference", "curation"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_valid_and_says_what_it_shows(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert path.read_text().startswith("# "), "each example starts with a comment on what it shows"
    assert main(["validate", str(path)]) == 0, capsys.readouterr().out
