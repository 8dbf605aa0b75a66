"""`datafoundry report` on plain JSONL: a valid report, the verdicts on real and defective text,
`--domain`, `--out`, and a clear error when nothing is there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from datafoundry.report import build

# seconds each: out of `make unit`, in `make test`
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CORPORA = REPO / "tests" / "unit" / "filters" / "corpora"
QUICKSTART = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())["spec"]["task"]
# A paragraph, as the help asks: the quickstart's domain text and its seed examples.
DOMAIN = "\n".join([QUICKSTART["domain"], *(v for seed in QUICKSTART["seeds"]["inline"] for v in seed.values())])


def _write(path: Path, source: Path) -> Path:
    rows = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    path.write_text("".join(json.dumps({"id": f"r{i}", "instruction": "How do I run this in Kubernetes?",
                                        "response": r.get("response") or r.get("text")}) + "\n"
                            for i, r in enumerate(rows)))
    return path


def _report(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "datafoundry.cli", "report", *args],
                          capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def _warnings(report: dict[str, Any]) -> set[str]:
    return {f["indicator"] for f in report["findings"] if f["level"] == "warning"}


def test_report_json_tells_real_text_from_gibberish(tmp_path: Path) -> None:
    real = _write(tmp_path / "real.jsonl", CORPORA / "real" / "en" / "smollm2-135m-instruct.jsonl")
    bad = _write(tmp_path / "bad.jsonl", CORPORA / "defective" / "tiny-random-llama.jsonl")
    reports = {}
    for name, path in (("real", real), ("bad", bad)):
        code, out, err = _report(str(path), "--json", "--domain", DOMAIN, "--language", "en")
        assert code == 0, err
        reports[name] = json.loads(out)
        jsonschema.validate(reports[name], build.schema())
    assert _warnings(reports["real"]) == set()
    assert {"stopwordShare", "domain"} <= _warnings(reports["bad"])
    assert reports["bad"]["domain"]["reference"] == ["--domain"]
    assert reports["real"]["size"]["records"] == 12 and reports["bad"]["size"]["records"] == 160


def test_report_summary_and_out_dir(tmp_path: Path) -> None:
    data = _write(tmp_path / "real.jsonl", CORPORA / "real" / "en" / "smollm2-135m-instruct.jsonl")
    code, out, err = _report(str(data), "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "findings" in out and "distinct-1 / 2 / 3" in out and "response" in out
    written = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert written["size"]["records"] == 12 and written["domain"] is None  # no --domain, no recipe
    for plot in written["plots"]:
        assert (tmp_path / "out" / plot["key"]).read_bytes().startswith(b"\x89PNG")
    assert {p["key"] for p in written["plots"]} >= {"plots/lengths.png"}


def test_report_of_nothing_exits_2_naming_it(tmp_path: Path) -> None:
    code, _, err = _report(str(tmp_path / "missing"))
    assert code == 2 and "missing" in err and "nothing there" in err
