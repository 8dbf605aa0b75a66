"""`datafoundry preview` on local datasets (published with a manifest, JSONL, .gz, .zst, Parquet)
and `datafoundry status` rendering and its errors without a cluster."""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from datafoundry.cli import main
from datafoundry.inspector import human_duration, render_status
from datafoundry.publish import formats

SENTENCES = [
    ("How do I reset my router to factory settings?",
     "Hold the reset button on the back for ten seconds until the lights blink, then set it up again."),
    ("Why does my internet slow down every evening?",
     "Many neighbours stream video at the same time, so the shared line in your street is busier after dinner."),
    ("Can I move the router to another room?",
     "Yes, but keep it away from thick walls and microwaves, which weaken the wireless signal."),
    ("What does a blinking red light on the modem mean?",
     "It usually means the modem has lost its connection to our network; an outage may be in progress."),
    ("How can I see how much data I have used this month?",
     "Sign in to your account page and open the usage tab, which is updated once a day."),
    ("Is there a fee for upgrading to a faster plan?",
     "No, upgrades take effect the next day and the new price starts with your next bill."),
    ("How do I change the name of my wireless network?",
     "Open the router's settings page in a browser, choose wireless, and type the new network name."),
    ("Why can my printer not join the network?",
     "Older printers only use the 2.4 GHz band, so make sure that band is switched on in the router."),
]


def records(n: int = 8, source: str = "generated") -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        question, answer = SENTENCES[i % len(SENTENCES)]
        out.append({
            "id": f"rec{i:04d}",
            "instruction": question,
            "response": answer,
            "meta": {"strategy": "selfInstruct", "model": "HuggingFaceTB/SmolLM2-135M-Instruct", "round": 0,
                     "shard": i % 2, "judge": {"score": 8, "model": "judge-model"}},
            "_source": source,
        })
    return out


def publish(root: Path, recs: list[dict[str, Any]], fmt: str = "jsonl", compression: str = "none",
            per_shard: int = 100) -> Path:
    """A dataset laid out as the publish worker writes it: data/part-NNNNN.<ext>, then manifest.json."""
    ext = formats.extension(fmt, compression)
    shards = []
    for i in range(0, len(recs), per_shard):
        key = f"data/part-{i // per_shard:05d}.{ext}"
        data = formats.encode(recs[i : i + per_shard], fmt, compression)
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
        shards.append({"key": key, "records": len(recs[i : i + per_shard]), "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"apiVersion": "datafoundry.io/v1alpha1", "kind": "DatasetManifest",
                "job": {"name": "support", "namespace": "team-a", "uid": "u1", "generation": 1},
                "model": "HuggingFaceTB/SmolLM2-135M-Instruct", "format": fmt, "compression": compression,
                "sourceField": "_source", "records": len(recs), "bytes": sum(s["bytes"] for s in shards),
                "shards": shards}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return root


def jsonl(recs: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in recs)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # rich wraps at 80 columns when stdout is not a terminal


# --------------------------------------------------------------------------------------------
# preview
# --------------------------------------------------------------------------------------------


def test_preview_published_dataset_reads_the_manifest_shards_in_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = publish(tmp_path / "ds", records(8), per_shard=3)
    # An object no manifest names (a crashed attempt's leftover) is not part of the dataset.
    (root / "data" / "part-00000-stale.jsonl").write_text(jsonl([{"instruction": "Stale record from a crash."}]))
    rc, out, err = run(capsys, "preview", str(root), "-n", "5")
    assert rc == 0, err
    assert "published dataset, 8 records in 3 shards, jsonl, job team-a/support" in out
    assert [f"#{i}  rec{i - 1:04d}" in out for i in range(1, 6)] == [True] * 5
    assert "#6" not in out and "Stale record" not in out
    assert SENTENCES[0][0] in out and SENTENCES[4][1] in out
    assert "strategy selfInstruct · model HuggingFaceTB/SmolLM2-135M-Instruct · judge 8 · _source generated" in out
    assert "data/part-00001.jsonl line 1" in out  # record 4 is the first of the second shard
    assert "5 of 8 records" in out


def test_preview_json_prints_whole_records_as_jsonl(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    recs = records(6)
    recs[0]["response"] = " ".join([SENTENCES[1][1]] * 40)  # > 1,500 characters: cut in panels, whole in JSON
    root = publish(tmp_path / "ds", recs)
    rc, out, _ = run(capsys, "preview", f"file://{root}", "--json", "-n", "4")
    assert rc == 0
    lines = out.splitlines()
    assert [json.loads(line) for line in lines] == recs[:4]
    rc, out, _ = run(capsys, "preview", str(root), "-n", "1")
    assert "truncated:" in out and "--json shows all" in out
    assert rc == 0


def test_preview_zstd_and_parquet_published_datasets(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    recs = records(5)
    for fmt, compression in (("jsonl", "zstd"), ("parquet", "none"), ("parquet", "zstd")):
        root = publish(tmp_path / f"{fmt}-{compression}", recs, fmt, compression, per_shard=2)
        rc, out, err = run(capsys, "preview", str(root), "-n", "3", "--json")
        assert rc == 0, err
        assert [json.loads(line) for line in out.splitlines()] == recs[:3], (fmt, compression)


def test_preview_manifest_json_itself_names_the_dataset(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = publish(tmp_path / "ds", records(3))
    rc, out, _ = run(capsys, "preview", str(root / "manifest.json"), "--json")
    assert rc == 0 and len(out.splitlines()) == 3


def test_preview_parquet_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = [{"text": q + " " + a, "label": "support"} for q, a in SENTENCES]
    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    rc, out, _ = run(capsys, "preview", str(path), "-n", "2")
    assert rc == 0
    assert SENTENCES[0][0] in out and SENTENCES[1][0] in out and SENTENCES[2][0] not in out
    assert "train.parquet row 2" in out
    assert "no meta" in out
    rc, out, _ = run(capsys, "preview", str(path), "--json", "-n", "20")
    assert [json.loads(line) for line in out.splitlines()] == rows


def test_preview_gzip_file_and_prefix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "a.jsonl.gz").write_bytes(gzip.compress(jsonl(records(2, "input")).encode()))
    (folder / "b.jsonl").write_text(jsonl(records(3, "replay")))
    (folder / "README.md").write_text("# Notes\nNot data.\n")
    (folder / "_SUCCESS").write_text("")
    rc, out, _ = run(capsys, "preview", str(folder / "a.jsonl.gz"), "--json")
    assert rc == 0 and [json.loads(line)["_source"] for line in out.splitlines()] == ["input", "input"]
    rc, out, _ = run(capsys, "preview", str(folder), "--json", "-n", "10")
    assert rc == 0
    assert [json.loads(line)["_source"] for line in out.splitlines()] == ["input"] * 2 + ["replay"] * 3
    rc, out, _ = run(capsys, "preview", str(folder), "-n", "10")
    assert rc == 0 and "all 5 records" in out and "Not data" not in out


def test_preview_n_limits_and_stops_before_a_later_bad_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(jsonl(records(3)) + '{"instruction": "This line was cut off in the middle\n' + jsonl(records(2)))
    rc, out, err = run(capsys, "preview", str(path), "-n", "3", "--json")
    assert rc == 0, err
    assert len(out.splitlines()) == 3
    rc, out, err = run(capsys, "preview", str(path), "-n", "5", "--json")
    assert rc == 1
    assert len(out.splitlines()) == 3  # the records before the bad line, then the error
    assert err.count("\n") == 1
    assert f"file://{path} line 4: not valid JSON" in err


def test_preview_not_a_json_object_names_the_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = publish(tmp_path / "ds", records(2))
    (root / "data" / "part-00000.jsonl").write_text(jsonl(records(1)) + '["a list, not a record"]\n')
    rc, _, err = run(capsys, "preview", str(root))
    assert rc == 1
    assert f"{root}/data/part-00000.jsonl line 2: a JSON list, not an object" in err


def test_preview_nothing_there_exits_2_naming_the_uri(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dataset"
    for target in (str(missing), f"file://{missing}"):
        rc, out, err = run(capsys, "preview", target)
        assert rc == 2
        assert out == ""
        assert err.count("\n") == 1 and target in err and "nothing there" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _, err = run(capsys, "preview", str(empty))
    assert rc == 2 and str(empty) in err
    rc, _, err = run(capsys, "preview", "gs://bucket/data")
    assert rc == 2 and "gs://bucket/data" in err


def test_preview_missing_shard_named_by_the_manifest(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = publish(tmp_path / "ds", records(4), per_shard=2)
    (root / "data" / "part-00001.jsonl").unlink()
    rc, out, err = run(capsys, "preview", str(root), "--json")
    assert rc == 1
    assert len(out.splitlines()) == 2
    assert "data/part-00001.jsonl: missing, though" in err and "manifest.json names it" in err


def test_preview_renders_text_literally_and_chat_messages(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    chat = {"messages": [{"role": "user", "content": "My bill shows a [bold] charge I do not recognise."},
                         {"role": "assistant", "content": "That is the one-time installation fee from March."}],
            "meta": {"strategy": "multiTurn"}}
    path.write_text(json.dumps(chat) + "\n")
    rc, out, _ = run(capsys, "preview", str(path))
    assert rc == 0
    assert "user: My bill shows a [bold] charge I do not recognise." in out
    assert "assistant: That is the one-time installation fee from March." in out
    assert "strategy multiTurn" in out


def test_preview_rejects_n_below_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["preview", str(tmp_path), "-n", "0"])
    assert exc.value.code == 2


# --------------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
JOB: dict[str, Any] = {
    "apiVersion": "datafoundry.io/v1alpha1",
    "kind": "DataFoundryJob",
    "metadata": {"name": "support", "namespace": "team-a", "generation": 2,
                 "creationTimestamp": "2026-03-01T11:00:00Z"},
    "status": {
        "phase": "Succeeded",
        "observedGeneration": 2,
        "startTime": "2026-03-01T11:01:00Z",
        "completionTime": "2026-03-01T11:43:00Z",
        "conditions": [
            {"type": "Accepted", "status": "True", "reason": "SpecValid", "message": "the recipe is valid",
             "lastTransitionTime": "2026-03-01T11:00:30Z"},
            {"type": "Succeeded", "status": "True", "reason": "Published",
             "message": "published 1200 records to s3://datafoundry/datasets/support",
             "lastTransitionTime": "2026-03-01T11:43:00Z"},
        ],
        "progress": {"target": 1000, "generated": 1480, "accepted": 1000, "percent": 100, "replay": 200,
                     "rejected": {"quality": 210, "generator/refusal": 31, "minhash": 180, "generator/empty": 4},
                     "promptTokens": 412345, "completionTokens": 298765, "round": 2},
        "shards": {"generate": {"total": 2, "succeeded": 2}, "filter": {"total": 2, "succeeded": 2},
                   "dedup": {}, "publish": {"total": 1, "succeeded": 1}},
        "output": {"uri": "s3://datafoundry/datasets/support", "records": 1200, "bytes": 2_621_440,
                   "manifestUri": "s3://datafoundry/datasets/support/manifest.json",
                   "decontamination": {"items": 500, "indexed": 498, "shortItems": 12, "emptyItems": 2,
                                       "matchedItems": 3, "records": 4},
                   "quality": {"selfBleu": 0.12, "distinct2": 0.61, "warnings": 1,
                               "reportUri": "s3://datafoundry/datasets/support/quality.json"}},
    },
}


def rendered(obj: dict[str, Any]) -> str:
    console = Console(width=160, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(render_status(obj, now=NOW))
    return console.export_text()


def test_status_rendering_shows_phase_conditions_funnel_output_and_quality() -> None:
    text = rendered(JOB)
    assert "team-a/support" in text and "Succeeded" in text and "age 60m" in text
    assert "SpecValid" in text and "published 1200 records to s3://datafoundry/datasets/support" in text
    lines = [" ".join(line.split()) for line in text.splitlines()]
    for expected in ("completed 17m ago (took 42m)",
                     "generated 1,480", "dropped at generation: empty -4", "dropped at generation: refusal -31",
                     "dropped by quality -210", "dropped by minhash -180", "accepted 1,000 / 1,000 (100%)",
                     "replay mixed in 200", "tokens (prompt / completion) 412,345 / 298,765", "round 2",
                     "generate 2 0 2 0", "publish 1 0 1 0", "uri s3://datafoundry/datasets/support",
                     "records 1,200", "bytes 2.5 MiB (2,621,440 bytes)",
                     "decontamination 4 records dropped; matched 3 of 500 eval items (498 indexed, 12 short, 2 empty)",
                     "distinct2 0.610", "selfBleu 0.120", "warnings 1"):
        assert expected in lines, (expected, lines)
    quality = [line.split()[0] for line in lines[lines.index("quality") + 1:] if line]
    assert quality == ["distinct2", "reportUri", "selfBleu", "warnings"]  # sorted
    assert not any(line.startswith("dedup") for line in lines)  # stages without shards are left out


def test_status_without_status_or_quality() -> None:
    text = rendered({"metadata": {"name": "fresh", "namespace": "ns"}})
    assert "ns/fresh" in text and "no status yet" in text
    job = json.loads(json.dumps(JOB))
    del job["status"]["output"]["quality"]
    lines = [line.strip() for line in rendered(job).splitlines()]
    assert "output" in lines and "quality" not in lines


def test_human_duration_follows_kubectl() -> None:
    assert [human_duration(s) for s in (5, 119, 150, 600, 7200, 4 * 3600 + 180, 30 * 3600, 3 * 86400 + 3600,
                                        20 * 86400)] == ["5s", "119s", "2m30s", "10m", "120m", "4h3m", "30h",
                                                         "3d1h", "20d"]


def test_status_without_kubeconfig_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    rc, out, err = run(capsys, "status", "support")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "no kubeconfig" in err and str(tmp_path / "absent") in err
    rc, _, err = run(capsys, "status", "support", "--kubeconfig", str(tmp_path / "other"))
    assert rc == 2 and str(tmp_path / "other") in err and "--kubeconfig" in err


def kubeconfig(path: Path, server: str, namespace: str | None = None) -> Path:
    context: dict[str, Any] = {"cluster": "c", "user": "u", **({"namespace": namespace} if namespace else {})}
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "main",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "main", "context": context}],
    }))
    return path


def test_status_unreachable_cluster_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = kubeconfig(tmp_path / "config", f"http://127.0.0.1:{port}", namespace="team-a")
    rc, out, err = run(capsys, "status", "support", "--kubeconfig", str(config))
    assert rc == 2 and out == ""
    assert err.count("\n") == 1
    assert "DataFoundryJob team-a/support: cannot reach the cluster at" in err and f"127.0.0.1:{port}" in err


def test_status_unknown_context_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "config", "http://127.0.0.1:1")
    rc, _, err = run(capsys, "status", "support", "--kubeconfig", str(config), "--context", "nope")
    assert rc == 2 and "nope" in err and err.count("\n") == 1
