"""The README's performance table is printed from results.json (hack/bench/table.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hack" / "bench"))
import table


def entry(figures: dict[str, Any] | None, code: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"started": "2026-12-02T18:00:00Z", "seconds": 12.3, "exit_code": code}
    if figures is not None:
        out["figures"] = figures
    return out


REPORT = {"publish_without_report": {"wall_s": 12.1}, "publish_with_report": {"wall_s": 12.9},
          "overhead_pct": 6.6, "overhead_cpu_pct": 5.5, "budget": 0.15, "corpus": {"records": 200000},
          "report": {"total_s": 1.93}}


def rows(text: str, label_start: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"| {label_start}")]


def test_a_row_shows_its_figures_and_when_they_were_measured() -> None:
    text = table.render_table({"all": True, "duration_s": 1500.4, "benchmarks": {"report": entry(REPORT)}})
    (row,) = rows(text, "quality report")
    assert "12.1 s without, 12.9 s with: +6.6% wall, +5.5% CPU (budget 15%)" in row
    assert "200,000 records" in row and "2026-12-02, 12 s" in row
    assert "`make bench`: 1,500 s in all" in text


def test_failed_missing_and_unrun_benchmarks_say_so_instead_of_showing_a_number() -> None:
    broken = {k: v for k, v in REPORT.items() if k != "overhead_pct"}
    results = {"all": False, "ran": ["report"], "duration_s": 3.0,
               "benchmarks": {"report": entry(broken), "filters": entry(None, code=1)}}
    text = table.render_table(results)
    assert rows(text, "quality report")[0].split(" | ")[1] == "figure missing: overhead_pct"
    assert "failed (exit 1)" in rows(text, "default filter chain")[0]
    assert "not run" in rows(text, "small job apply")[0]
    assert not rows(text, "scale, full")  # on demand: no row until `make bench-scale` ran
    assert "the last run (report): 3 s" in text


def test_readme_block_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{table.BEGIN}\nold table\n{table.END}\noutro\n")
    table.write_readme(readme, "| new |\n")
    assert readme.read_text() == f"intro\n{table.BEGIN}\n| new |\n{table.END}\noutro\n"
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="no <!-- bench-table:begin"):
        table.write_readme(readme, "| new |\n")


def test_the_forgetting_row_says_whether_replay_lowered_the_general_loss_increase() -> None:
    run = {"records": 36, "generalLossIncreasePct": 1.5, "domainGainPct": 20.25}
    figures = {"with_replay": run, "without_replay": {**run, "generalLossIncreasePct": 4.0, "domainGainPct": 22.0},
               "settings": {"lora": {"rank": 8}, "steps": 24, "batchSize": 4},
               "held_out": {"domain": 12, "general": 9}, "replay_lowers_general_loss_increase": True,
               "guard_seconds": 250.4, "run_seconds": 700.2, "device": "cpu"}
    (row,) = rows(table.render_table({"benchmarks": {"forgetting": entry(figures)}}), "forgetting guard")
    assert "general loss +1.50% with 20% replay vs +4.00% with 0% (lower with replay)" in row
    assert "domain loss -20.25% vs -22.00%" in row and "guard 250 s of a 700 s run on cpu" in row
    assert row.endswith("records from the cache | 2026-12-02, 12 s |")
    figures.update(generated_now=True, generate_seconds=1020.4)
    (row,) = rows(table.render_table({"benchmarks": {"forgetting": entry(figures)}}), "forgetting guard")
    assert "records generated first in 1,020 s" in row
    figures["replay_lowers_general_loss_increase"] = False
    (row,) = rows(table.render_table({"benchmarks": {"forgetting": entry(figures)}}), "forgetting guard")
    assert "(NOT lower with replay)" in row
