"""`datafoundry validate` and `datafoundry crd`: output format, field paths, exit codes, the corpus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from datafoundry.api.crd import render_crd_yaml
from datafoundry.cli import main

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "tests" / "fixtures" / "manifests"
INVALID = sorted((MANIFESTS / "invalid").glob("*.yaml"))
VALID = sorted((MANIFESTS / "valid").glob("*.yaml"))
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = main(list(argv))
    return rc, capsys.readouterr().out


def expected_path(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: <field path>'"
    return first.removeprefix("# expect: ").strip()


def test_corpus_is_big_enough() -> None:
    assert len(INVALID) >= 20
    assert {"minimal.yaml", "full.yaml"} <= {p.name for p in VALID}


@pytest.mark.parametrize("path", VALID + EXAMPLES, ids=lambda p: p.name)
def test_valid_manifests(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    rc, out = run(capsys, "validate", str(path))
    assert out == f"{path}: valid\n"
    assert rc == 0


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_manifest_reports_expected_path(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    expect = expected_path(path)
    rc, out = run(capsys, "validate", str(path))
    assert rc == 1
    # The API server can only name a list (CEL field paths are static); offline we name the item.
    assert re.search(rf"^{re.escape(f'{path}:doc 1: {expect}')}(\[\d+\][\w.]*)?: ", out, re.M), out
    assert "valid\n" not in out


def test_validate_many_files_prints_every_error(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(VALID[0]), *map(str, INVALID[:3])]
    rc, out = run(capsys, "validate", *files)
    assert rc == 1
    assert f"{VALID[0]}: valid" in out
    for path in INVALID[:3]:
        assert f"{path}:doc 1: {expected_path(path)}: " in out


def test_error_line_format(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = yaml.safe_load((MANIFESTS / "valid" / "minimal.yaml").read_text())
    doc["spec"]["generator"]["shards"] = 0
    doc["spec"]["generator"]["typo"] = 1
    f = tmp_path / "job.yaml"
    f.write_text(yaml.safe_dump(doc))
    rc, out = run(capsys, "validate", str(f))
    assert rc == 1
    lines = out.splitlines()
    assert f"{f}:doc 1: spec.generator.shards: Input should be greater than or equal to 1" in lines
    assert f"{f}:doc 1: spec.generator.typo: unknown field" in lines


def test_multi_document_yaml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    valid = (MANIFESTS / "valid" / "minimal.yaml").read_text()
    invalid = (MANIFESTS / "invalid" / "shards-zero.yaml").read_text()
    other = "apiVersion: v1\nkind: Secret\nmetadata: {name: s3}\n"
    f = tmp_path / "multi.yaml"
    f.write_text(f"{valid}\n---\n{other}---\n{invalid}")
    rc, out = run(capsys, "validate", str(f))
    assert rc == 1
    assert f"{f}:doc 2: skipped (Secret)" in out
    assert f"{f}:doc 3: spec.generator.shards: " in out
    assert "doc 1:" not in out


def test_multi_document_all_valid(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    valid = (MANIFESTS / "valid" / "minimal.yaml").read_text()
    f = tmp_path / "two.yaml"
    f.write_text(f"{valid}\n---\n{valid}")
    assert run(capsys, "validate", str(f)) == (0, f"{f}: valid\n")


def test_yaml_syntax_error_has_line_number(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text("apiVersion: datafoundry.io/v1alpha1\nkind: DataFoundryJob\nspec:\n  target: {records: 1\n  x: [\n")
    rc, out = run(capsys, "validate", str(f))
    assert rc == 1
    assert out.startswith(f"{f}:doc 1: line ")
    assert "YAML syntax error" in out


def test_not_a_mapping_and_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "list.yaml"
    f.write_text("- 1\n- 2\n")
    rc, out = run(capsys, "validate", str(f), str(tmp_path / "nope.yaml"))
    assert rc == 1
    assert f"{f}:doc 1: expected a mapping" in out
    assert f"{tmp_path / 'nope.yaml'}: " in out


def test_no_job_in_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "empty.yaml"
    f.write_text("# nothing\n")
    rc, out = run(capsys, "validate", str(f))
    assert (rc, out) == (1, f"{f}: no DataFoundryJob found\n")


def test_crd_command_prints_and_writes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, out = run(capsys, "crd")
    assert rc == 0
    assert out == render_crd_yaml()
    target = tmp_path / "sub" / "crd.yaml"
    rc, out = run(capsys, "crd", "--output", str(target))
    assert (rc, out) == (0, "")
    assert target.read_text() == render_crd_yaml()


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(capsys)
    assert rc == 2
    assert "validate" in out
    assert "crd" in out
