"""`datafoundry run`: the whole pipeline on one machine with the real workers, and resuming."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DATAFOUNDRY = [sys.executable, "-m", "datafoundry.cli"]

TOPICS = ["scheduling pods onto nodes", "rolling out deployments", "debugging crash loops", "tuning probes",
          "setting resource limits", "draining nodes safely", "rotating certificates", "scaling statefulsets"]


def corpus(path: Path, n: int) -> None:
    """Distinct, plausible English records, plus an exact duplicate and a line that is not JSON."""
    lines = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        text = (f"Question {i}: what should an operator check first when {topic} goes wrong in cluster {i}? "
                f"Answer: start with the events of the affected object, then the logs of its controller, "
                f"and compare the live spec with the last applied one before changing anything {i}.")
        lines.append(json.dumps({"id": f"r{i}", "text": text}))
    lines.append(lines[3])  # an exact duplicate
    path.write_text("\n".join(lines) + "\n")


def manifest(tmp: Path, records: int, shards: int) -> Path:
    doc: dict[str, Any] = {
        "apiVersion": "datafoundry.io/v1alpha1", "kind": "DataFoundryJob", "metadata": {"name": "curate"},
        "spec": {
            "target": {"records": records},
            "input": {"uris": [f"file://{tmp / 'in'}"], "format": "jsonl", "textField": "text", "shards": shards},
            "filters": [{"type": "length", "minChars": 50}, {"type": "exactDedup"}, {"type": "minhash"}],
            "output": {"uri": f"file://{tmp / 'out'}"},
        },
    }
    path = tmp / "job.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DATAFOUNDRY, *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_local_run_curates_and_publishes_then_rerun_is_a_no_op(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    corpus(tmp_path / "in" / "part-0.jsonl", 40)
    job = manifest(tmp_path, records=30, shards=2)
    first = run(["run", str(job)], tmp_path)
    assert first.returncode == 0, first.stderr + first.stdout
    assert "published 30 records" in first.stdout
    out = tmp_path / "out"
    manifest_doc = json.loads((out / "manifest.json").read_text())
    assert manifest_doc["records"] == 30
    data = [json.loads(line) for f in sorted((out / "data").iterdir()) for line in f.read_text().splitlines()]
    assert len(data) == 30
    assert len({r["id"] for r in data}) == 30, "the planted duplicate must not be published twice"
    assert (out / "README.md").exists()
    quality = json.loads((out / "quality.json").read_text())
    assert quality["size"]["records"] == 30 and (out / "plots" / "lengths.png").exists()
    assert f"quality report: file://{out}/quality.json" in first.stdout
    assert all(f"{f['level']}: {f['message']}" in first.stdout for f in quality["findings"])
    before = {p: p.stat().st_mtime_ns for p in (out / "data").iterdir()}

    assert not (out / "_staging").exists(), "a published run leaves no _staging/ beside the dataset"

    second = run(["run", str(job)], tmp_path)
    assert second.returncode == 0, second.stderr
    assert "published 30 records" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in (out / "data").iterdir()} == before, "a rerun must not rewrite data"
    assert not (out / "_staging").exists(), "a rerun of a published job starts nothing"


def test_local_run_stops_before_publish_with_the_staging_kept_then_goes_on(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    corpus(tmp_path / "in" / "part-0.jsonl", 40)
    job = manifest(tmp_path, records=30, shards=2)
    stopped = run(["run", str(job), "--stop-before", "publish"], tmp_path)
    assert stopped.returncode == 0, stopped.stderr + stopped.stdout
    out = tmp_path / "out"
    assert "stopped before publish: 40 records passed the filters and dedup" in stopped.stdout
    assert not (out / "manifest.json").exists() and list((out / "_staging").glob("*/dedup/r00/s00000/_DONE.json"))
    (tmp_path / "in" / "part-0.jsonl").unlink()  # going on reads the kept records, not the input again
    went_on = run(["run", str(job)], tmp_path)
    assert went_on.returncode == 0, went_on.stderr
    assert "published 30 records" in went_on.stdout
    assert json.loads((out / "manifest.json").read_text())["records"] == 30
    assert not (out / "_staging").exists()


def test_local_run_rejects_a_bad_manifest_with_field_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"apiVersion": "datafoundry.io/v1alpha1", "kind": "DataFoundryJob",
                                   "metadata": {"name": "x"},
                                   "spec": {"target": {"records": 0}, "input": {"uris": ["file:///nope"]},
                                            "output": {"uri": "file:///tmp/x"}}}))
    proc = run(["run", str(bad)], tmp_path)
    assert proc.returncode == 1
    assert "spec.target.records" in proc.stderr


def shard_processes(cwd: Path) -> list[int]:
    """Worker processes started by a `datafoundry run` in cwd (found by their working directory)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")) == cwd and \
                    b"worker" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_local_run_stops_its_shards_at_once_on_sigint_or_sigterm(tmp_path: Path) -> None:
    """Ctrl-C (even when a shell started the run with SIGINT ignored) and SIGTERM end the run and its
    shard processes within seconds, not when the running shards would have finished, and publish nothing."""
    (tmp_path / "in").mkdir()
    for k in range(2):
        corpus(tmp_path / "in" / f"part-{k}.jsonl", 150_000)  # a minute or more of filtering per shard
    job = manifest(tmp_path, records=10, shards=2)
    doc = yaml.safe_load(job.read_text())
    doc["spec"]["filters"] = [{"type": "language", "languages": ["en"]}, {"type": "quality"}]
    job.write_text(yaml.safe_dump(doc))

    for signum in (signal.SIGINT, signal.SIGTERM):
        proc = subprocess.Popen([*DATAFOUNDRY, "run", str(job)], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not shard_processes(tmp_path) and proc.poll() is None:
            time.sleep(0.2)
        assert shard_processes(tmp_path), f"no shard process started: {proc.communicate()}"
        time.sleep(2)  # the workers are busy filtering
        os.kill(proc.pid, signum)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=60)
        assert time.monotonic() - t0 < 15, f"{signum.name} took {time.monotonic() - t0:.0f}s to stop the run"
        assert proc.returncode == 128 + signum, err
        assert "run the same command again to resume" in err
        assert not shard_processes(tmp_path), "shard processes outlived the run"
        assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.vllm
def test_local_run_generates_with_the_openai_engine_and_resumes_after_interrupt(
    tmp_path: Path, vllm_server: Any
) -> None:
    doc = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    spec = doc["spec"]
    spec["target"] = {"records": 12, "overgenerate": 2.0}
    spec["budget"] = {"maxRounds": 2}
    spec["generator"] = {"model": vllm_server.model, "shards": 2, "gpusPerShard": 0, "batchSize": 4,
                         "sampling": {"maxTokens": 160, "temperature": 0.8, "seed": 1},
                         "engine": {"type": "openai", "endpoint": vllm_server.base_url, "maxConcurrency": 8},
                         "screens": {"enabled": False}}  # the tiny random model: mechanics, not content
    spec["filters"] = [{"type": "exactDedup"}]
    spec["output"] = {"uri": f"file://{tmp_path / 'out'}"}
    del spec["mix"], spec["evaluation"]  # the random model's replay and its fine-tuning say nothing
    job = tmp_path / "gen.yaml"
    job.write_text(yaml.safe_dump(doc))

    proc = subprocess.Popen([*DATAFOUNDRY, "run", str(job)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    staging = tmp_path / "out" / "_staging"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(staging.glob("*/gen/r00/*/part-*.jsonl")):
        time.sleep(0.2)
    assert list(staging.glob("*/gen/r00/*/part-*.jsonl")), "no generated part appeared"
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    resumed = run(["run", str(job)], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "published" in resumed.stdout
    out = tmp_path / "out"
    manifest_doc = json.loads((out / "manifest.json").read_text())
    ids = [json.loads(line)["id"] for f in sorted((out / "data").iterdir()) for line in f.read_text().splitlines()]
    assert len(ids) == manifest_doc["records"] == len(set(ids)), "resuming must not duplicate generated records"
    assert not staging.exists(), "a published run leaves no _staging/ beside the dataset"


@pytest.mark.vllm
def test_make_demo_path_loads_smollm2_once_and_publishes_english(tmp_path: Path, smollm2_model: Path) -> None:
    """What `make demo` runs: the quickstart as written (the in-pod vllm engine, two shards, every
    filter) with SmolLM2-135M-Instruct, a smaller target. The model is loaded once, by one local vLLM
    server, and every published record is English that the quality and language filters kept."""
    import py3langid  # type: ignore[import-untyped]

    doc = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    doc["spec"]["target"] = {"records": 8}
    # the forgetting guard as written, on the few records of the small target
    doc["spec"]["evaluation"]["forgetting"].update({"steps": 2, "heldOutRecords": 2, "sampleRecords": 4})
    job = tmp_path / "quickstart.yaml"
    job.write_text(yaml.safe_dump(doc))
    proc = subprocess.run([*DATAFOUNDRY, "run", str(job), "--output", f"file://{tmp_path / 'out'}",
                           "--model", str(smollm2_model)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=1500, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stderr.count("once for the whole run") == 1
    server_log = (tmp_path / ".local" / "run" / "server" / "vllm-server.log").read_text()
    assert [line for line in server_log.splitlines() if line.startswith("$ ")] != []
    assert server_log.count("Application startup complete") == 1, "one server, started once"
    out = tmp_path / "out"
    manifest_doc = json.loads((out / "manifest.json").read_text())
    records = [json.loads(line) for f in sorted((out / "data").iterdir()) for line in f.read_text().splitlines()]
    assert len(records) == manifest_doc["records"] >= 1
    for r in records:
        assert r["meta"]["model"] == str(smollm2_model)
        assert py3langid.classify(r["instruction"] + "\n" + r["response"])[0] == "en", r
        assert r["response"].rstrip()[-1] in ".!?`)\"'", r  # no answer cut mid-sentence
    strategies = manifest_doc["generation"]["strategies"]
    assert set(strategies) == {"selfInstruct", "evolInstruct", "replaySelf"}
    assert all(0.0 <= s["truncationRate"] <= 1.0 for s in strategies.values())
    card = (out / "README.md").read_text()
    assert "## Generation" in card and "selfInstruct" in card
    # the forgetting guard fine-tuned SmolLM2 on the mix and on the domain alone, and said so
    guard = json.loads((out / "quality.json").read_text())["forgetting"]
    assert guard["model"] == str(smollm2_model) and guard["mix"]["steps"] == 2
    assert guard["heldOut"]["domain"] == 2 and guard["heldOut"]["generalSource"] == "replay-self"
    assert manifest_doc["evaluation"]["forgetting"] == guard and "## Forgetting guard" in card
    assert f"forgetting guard: fine-tuning {smollm2_model} for 2 steps on the mix" in proc.stdout
    print("demo forgetting:", json.dumps({k: guard[k] for k in ("before", "mix", "domainOnly") if k in guard}))
    assert not (out / "_staging").exists()
    print("demo funnel:", json.dumps(manifest_doc["funnel"], sort_keys=True))
    print("demo generation:", json.dumps(strategies, sort_keys=True))
