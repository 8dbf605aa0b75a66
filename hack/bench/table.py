#!/usr/bin/env python3
"""The README's performance table, printed from .local/bench/results.json (run_all.py writes both).

    .venv/bin/python hack/bench/table.py [--results .local/bench/results.json] [--readme]

One row per figure a reader compares; a benchmark that did not run or failed says so in its rows
instead of showing an older number. `--readme` replaces the block between the markers in README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ON_DEMAND = frozenset({"scale-full"})  # run_all.py's ON_DEMAND: not part of `make bench`
BEGIN = "<!-- bench-table:begin (hack/bench/table.py --readme) -->"
END = "<!-- bench-table:end -->"


class Missing(KeyError):
    """A figure the row needs is not in the results."""


def fig(figures: dict[str, Any], path: str) -> Any:
    value: Any = figures
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise Missing(path)
        value = value[part]
    return value


def num(value: Any, digits: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


@dataclass(frozen=True)
class Row:
    benchmark: str
    label: str
    result: Callable[[dict[str, Any]], str]


def _chain(f: dict[str, Any]) -> str:
    per = fig(f, "default_chain.cpu_ms_per_record_by_filter")
    top = sorted(per.items(), key=lambda kv: -kv[1])[:2]
    return (f"{num(fig(f, 'default_chain.records_per_cpu_s'))} records/s per core on "
            f"{num(fig(f, 'default_chain.records'))} records (slowest: "
            + ", ".join(f"{k} {v:.3f} ms" for k, v in top) + " a record)")


MINHASH_ROWS = {  # results key -> label (hack/bench/minhash.py; one corpus, 5-word shingles, threshold 0.8)
    "product_default": "product default end to end: 128 perms, 16 bands, verified; filter + dedup workers on SeaweedFS",
    "ours_oph_112x14_verified": "ours in memory: one-permutation hashing 112/14, verified",
    "ours_oph_112x14": "ours in memory: one-permutation hashing 112/14",
    "ours_classic_112x14": "ours in memory: 112 classic permutations, 14x8",
    "datatrove_whitespace": "DataTrove 0.10.1, 14x8, whitespace split",
    "datatrove_spacy": "DataTrove 0.10.1, 14x8, its default tokenizer (spaCy)",
}


def _minhash(key: str) -> Callable[[dict[str, Any]], str]:
    def result(f: dict[str, Any]) -> str:
        r = fig(f, f"rows.{key}")
        text = f"{num(r['wall_s'])} s wall, {num(r['cpu_s'])} s CPU"
        if r.get("estimated"):
            return text + f" (estimated: {r.get('how', 'from a subset')})"
        cpu_x = r.get("speedup_cpu_vs", {}).get("datatrove_whitespace")
        return (text + f"; recall {r['recall']}, precision {r['precision']}, hard negatives merged "
                f"{num(r['hard_negatives_merged'])}" + (f"; {cpu_x}x DataTrove's CPU" if cpu_x else ""))
    return result


def _minhash_corpus(f: dict[str, Any]) -> str:
    c = fig(f, "corpus")
    return (f"{num(c['records'])} records, {num(c['planted_pairs'])} planted pairs ({num(c['true_pairs'])} at or "
            f"above {c['threshold']}, the rest hard negatives below it); what the speedups are made of (CPU): "
            + ", ".join(f"{k.replace('_', ' ')} {v['cpu_s']}x" for k, v in fig(f, "decomposition").items()))


def _generator(model: str) -> Callable[[dict[str, Any]], str]:
    def result(f: dict[str, Any]) -> str:
        g = fig(f, model)
        parts = sorted(g["outside_generate_s_by_part"].items(), key=lambda kv: -kv[1])[:3]
        return (f"{num(g['worker_tokens_per_s'])} vs {num(g['bare_tokens_per_s'])} tok/s, ratio {g['ratio']:.2f}; "
                f"{100 * g['outside_generate_share']:.1f}% of the worker's wall time outside generate ("
                + ", ".join(f"{k} {v:.2f} s" for k, v in parts) + f"); {g['prompts']} prompts")
    return result


def _server(f: dict[str, Any]) -> str:
    g = fig(f, "server")
    return (f"{num(g['openai_engine']['tokens_per_s'])} vs {num(g['raw_async_openai']['tokens_per_s'])} tok/s, "
            f"ratio {g['ratio']:.2f} (concurrency {g['concurrency']}, best of each)")


def _report(f: dict[str, Any]) -> str:
    a, b = fig(f, "publish_without_report"), fig(f, "publish_with_report")
    return (f"{num(a['wall_s'])} s without, {num(b['wall_s'])} s with: {fig(f, 'overhead_pct'):+.1f}% wall, "
            f"{fig(f, 'overhead_cpu_pct'):+.1f}% CPU (budget {fig(f, 'budget'):.0%}); "
            f"{num(fig(f, 'corpus.records'))} records; report alone {num(fig(f, 'report.total_s'), 2)} s")


def _forgetting(f: dict[str, Any]) -> str:
    with_, without = fig(f, "with_replay"), fig(f, "without_replay")
    settings, held = fig(f, "settings"), fig(f, "held_out")
    verdict = "lower" if fig(f, "replay_lowers_general_loss_increase") else "NOT lower"
    return (f"general loss {with_['generalLossIncreasePct']:+.2f}% with 20% replay vs "
            f"{without['generalLossIncreasePct']:+.2f}% with 0% ({verdict} with replay); domain loss "
            f"{-with_['domainGainPct']:+.2f}% vs {-without['domainGainPct']:+.2f}%; LoRA r{settings['lora']['rank']}, "
            f"{settings['steps']} steps x {settings['batchSize']}, {with_['records']} training records each, "
            f"{held['domain']}/{held['general']} held out; guard {num(fig(f, 'guard_seconds'), 0)} s of a "
            f"{num(fig(f, 'run_seconds'), 0)} s run on {fig(f, 'device')}"
            + (f", records generated first in {num(fig(f, 'generate_seconds'), 0)} s" if f.get("generated_now")
               else ", records from the cache"))


def _operator_overhead(f: dict[str, Any]) -> str:
    return (f"{num(fig(f, 'small_job_apply_to_succeeded_seconds_median'))} s total, "
            f"{num(fig(f, 'small_job_overhead_seconds_median'))} s overhead (median)")


def _operator_rss(f: dict[str, Any]) -> str:
    return (f"{num(fig(f, 'operator_rss_idle_mib'), 0)} / {num(fig(f, 'operator_rss_live_jobs_mib'), 0)} MiB "
            f"({fig(f, 'live_jobs')} live jobs); {num(fig(f, 'api_requests_per_minute_with_live_jobs'))} "
            "API requests/min with them settled")


def _scale(f: dict[str, Any]) -> str:
    lag = fig(f, "status_lag_seconds")
    wall = fig(f, "wall_seconds_create_to_all_finished")
    return (f"{fig(f, 'succeeded')}/{fig(f, 'jobs')} Succeeded in {num(wall)} s "
            f"({num(fig(f, 'jobs_per_minute'))} jobs/min); operator {num(fig(f, 'operator_cpu_ms_per_job'), 0)} "
            f"CPU-ms and {num(fig(f, 'api_requests_per_job'))} API requests a job, RSS peak "
            f"{num(fig(f, 'operator_rss_peak_mib'), 0)} MiB; status lag p50 {lag['p50']} s, p95 {lag['p95']} s")


def _scale_restart(f: dict[str, Any]) -> str:
    mid, idle = fig(f, "restart_mid_run"), fig(f, "restart_all_finished")
    return (f"SIGKILL at {mid['killed_at_succeeded']} Succeeded, {num(mid['down_seconds'], 0)} s down: healthy "
            f"{mid['seconds_to_healthy']} s after the restart, {mid['backlog_child_completions']} missed completions "
            f"reflected in {mid['seconds_to_reconcile_backlog']} s; idle {fig(f, 'idle_api_requests_per_minute')} "
            f"requests/min; a restart with all finished sees every job in {idle['seconds_to_all_jobs_seen']} s")


def _scale_label(full: bool) -> str:
    return ("scale, full: 1,000 jobs x 4 shards on 100 kwok GPU nodes (`make bench-scale`)" if full else
            "scale: 100 jobs x 4 shards (1,000 pods, 700 child Jobs) on 10 kwok GPU nodes")


ROWS: list[Row] = [
    Row("filters", "default filter chain (`hack/bench/filters.py`)", _chain),
    *(Row("minhash", f"MinHash: {label}" + (" (`hack/bench/minhash.py`)" if key == "product_default" else ""),
          _minhash(key)) for key, label in MINHASH_ROWS.items()),
    Row("minhash", "MinHash: the corpus (natural text) and the speedups' parts", _minhash_corpus),
    Row("generator", "generator worker vs bare vLLM, SmolLM2-135M-Instruct, quickstart (`hack/bench/generator.py`)",
        _generator("smollm2")),
    Row("generator", "generator worker vs bare vLLM, tiny random model", _generator("tiny")),
    Row("generator", "`openai` engine vs raw async client, tiny model on one vLLM server", _server),
    Row("report", "quality report's cost on the publish stage (`hack/bench/report.py`)", _report),
    Row("forgetting", "forgetting guard: SmolLM2 fine-tuned on the quickstart's mix, 20% vs 0% self-generated "
        "replay (`hack/bench/forgetting.py`)", _forgetting),
    Row("operator", "small job apply -> Succeeded, overhead beyond the workers (`hack/bench/controller.py`)",
        _operator_overhead),
    Row("operator", "Kubernetes API requests per small job", lambda f: num(fig(f, "api_requests_per_job"))),
    Row("operator", "operator RSS idle / with live jobs", _operator_rss),
    Row("scale", _scale_label(False) + " (`hack/bench/scale.py`)", _scale),
    Row("scale", "scale: operator restarts (same run)", _scale_restart),
    Row("scale-full", _scale_label(True), _scale),
    Row("scale-full", "scale, full: operator restarts (same run)", _scale_restart),
]


def cell(entry: dict[str, Any] | None, row: Row) -> str:
    if entry is None:
        return "not run"
    if entry.get("exit_code") != 0 or "figures" not in entry:
        return f"failed ({entry.get('error') or 'exit ' + str(entry.get('exit_code'))})"
    try:
        return row.result(entry["figures"])
    except Missing as e:
        return f"figure missing: {e.args[0]}"


def render_table(results: dict[str, Any]) -> str:
    benchmarks = results.get("benchmarks", {})
    lines = ["| benchmark | result | run |", "|---|---|---|"]
    for row in ROWS:
        entry = benchmarks.get(row.benchmark)
        if entry is None and row.benchmark in ON_DEMAND:
            continue  # an on-demand run that has not been made: no row
        when = f"{entry['started'][:10]}, {num(entry['seconds'], 0)} s" if entry and "started" in entry else ""
        lines.append(f"| {row.label} | {cell(entry, row)} | {when} |")
    m = results.get("machine", {})
    lines.append("")
    ran = results.get("ran")
    what = "`make bench`" if results.get("all") else f"the last run ({', '.join(ran or [])})"
    lines.append(f"{what}: {num(results.get('duration_s') or 0, 0)} s in all on {m.get('cpu', '?')}, "
                 f"{m.get('cores', '?')} cores, {m.get('memory_gib', '?')} GiB (.local/bench/results.json, "
                 f"started {results.get('started', '?')}).")
    return "\n".join(lines) + "\n"


def write_readme(readme: Path, table: str) -> None:
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: no {BEGIN} ... {END} block to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=REPO / ".local" / "bench" / "results.json")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md")
    args = parser.parse_args()
    table = render_table(json.loads(args.results.read_text()))
    print(table)
    if args.readme:
        write_readme(REPO / "README.md", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
