"""The real filter, dedup and publish workers as subprocesses against the test bed's S3.

Records are hand-made so that every outcome is known: planted exact and near duplicates in
different shards, paraphrases below the threshold, items copied from an eval set, PII, a
German record, degenerate and refusing records, malformed JSONL lines.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datafoundry.api.stages import Stage
from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import EXIT_BAD_INPUT, Progress
from datafoundry.storage import ObjectStore
from datafoundry.testing.prose import EVAL_QUESTIONS, GERMAN, edit_words, paraphrase, question, record, text
from datafoundry.testing.testbed import S3
from datafoundry.testing.workers import WorkerJob, all_filters, gen_spec

pytestmark = pytest.mark.integration


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------


def test_filter_dedup_publish_known_outcomes(s3: S3, tmp_path: Path) -> None:
    rng = random.Random(5)
    eval_items = [{"id": f"q{i}", "question": q, "answer": "yes"} for i, q in enumerate(EVAL_QUESTIONS)]
    job = WorkerJob.on_s3(s3, tmp_path)
    eval_uri = job.put("evals/mybench.jsonl", "".join(json.dumps(e) + "\n" for e in eval_items).encode())
    replay = [{"text": text(rng, 3), "id": f"replay-{i}"} for i in range(300)]
    replay_uri = job.put("replay/general.jsonl", "".join(json.dumps(r) + "\n" for r in replay).encode())
    job.setup(gen_spec(filters=all_filters(eval_uri), mix={"replay": {"uri": replay_uri, "ratio": 0.25}}))

    base0 = [record(rng, f"s0-{i}") for i in range(60)]
    base1 = [record(rng, f"s1-{i}") for i in range(60)]
    exact = record(rng, "exact-a")
    # the same text but for spacing and punctuation ("!" for ".": still a sentence end, as quality wants)
    exact_copy = {**exact, "id": "exact-b", "response": exact["response"].replace(" ", "  ").replace(".", "!")}
    near = record(rng, "near-a")
    near_copy = {**near, "id": "near-b", "response": edit_words(near["response"], 70, rng)}
    para = record(rng, "para-a")
    para_copy = {**para, "id": "para-b", "response": paraphrase(para["response"], rng)}
    leaked = {"id": "leak", "instruction": "Answer this question please.",
              "response": "Here it is: " + eval_items[2]["question"]}
    pii = {"id": "pii", "instruction": question(rng),
           "response": text(rng, 3) + " Write to jane.doe@example.com or call +1 415 555 0134 today."}
    german = {"id": "german", "instruction": "Beschreibe den Abend.", "response": GERMAN}
    # real defects the quality filter names: a repeated line (duplicate_lines), a refusal (refusal)
    degenerate = {"id": "degenerate", "instruction": question(rng),
                  "response": "\n".join(["Buy cheap products now at the market today."] * 8)}
    refusal = {"id": "refusal", "instruction": question(rng),
               "response": "As an AI language model, I cannot help with that request. " + text(rng, 2)}
    job.stage_gen(0, 0, [[*base0[:30], exact, near, para], [*base0[30:], pii, german]])
    job.stage_gen(0, 1, [[*base1[:30], exact_copy, near_copy, para_copy, leaked], [*base1[30:], degenerate,
                                                                                 refusal]])

    f0 = job.ok("filter", 0, 0)
    f1 = job.ok("filter", 0, 1)
    assert f0.rejected["language"] == 1
    assert f1.rejected["quality"] == 2
    assert f1.rejected["decontamination"] == 1
    assert f0.accepted == 60 + 3 + 1, f0.rejected  # base, exact/near/para, pii (redacted)
    assert f1.accepted == 60 + 3, f1.rejected

    d = job.ok("dedup", 0)
    assert d.generated == 65 + 66
    assert d.rejected["exactDedup"] == 1 and d.rejected["minhash"] == 1
    assert d.accepted == 64 + 63 - 2
    assert d.prompt_tokens == 10 * 131

    p = job.ok("publish", 0)
    manifest, records = job.published()
    by_id = {r["id"]: r for r in records}
    gen = [r for r in records if r["_source"] == "generated"]
    rep = [r for r in records if r["_source"] == "replay"]
    assert len(gen) == 125 and p.accepted == len(records) == manifest["records"]
    assert abs(len(rep) - 0.25 * len(records)) <= 1
    assert {"exact-a", "near-a", "para-a", "para-b"} <= by_id.keys()
    assert not {"exact-b", "near-b", "leak", "german", "degenerate", "refusal"} & by_id.keys()
    assert "<EMAIL>" in by_id["pii"]["response"] and "jane.doe" not in by_id["pii"]["response"]
    assert "<PHONE>" in by_id["pii"]["response"]
    assert manifest["decontamination"]["items"] == {"mybench": ["q2"]}
    assert manifest["filters"]["minhash"]["reasons"] == {"near_duplicate": 1}
    assert manifest["filters"]["quality"]["reasons"] == {"duplicate_lines": 1, "refusal": 1}
    assert manifest["filters"]["language"]["reasons"] == {"language:de": 1}
    assert manifest["filters"]["pii"]["modified"] == 1
    assert manifest["job"] == {"name": "wk", "namespace": "t", "uid": job.uid, "generation": 2}
    assert manifest["recipeHash"] == job.plan.recipe_hash and manifest["model"] == "org/tiny"
    assert p.sha256 == hashlib.sha256(job.store.get(layout.MANIFEST) or b"").hexdigest()
    assert p.manifest_uri == job.uri("out/manifest.json")
    card = (job.store.get(layout.CARD) or b"").decode()
    assert hashlib.sha256(card.encode()).hexdigest() == manifest["card"]["sha256"]
    assert "## Funnel" in card and "## Known limits" in card and "rejected by `minhash` | 1" in card

    # the quality report: listed in the manifest with its checksum, valid, and true to what happened
    import jsonschema

    from datafoundry.report import build as quality_report

    quality_bytes = job.store.get(layout.QUALITY) or b""
    assert hashlib.sha256(quality_bytes).hexdigest() == manifest["quality"]["sha256"]
    quality = json.loads(quality_bytes)
    jsonschema.validate(quality, quality_report.schema())
    assert quality["size"]["records"] == len(records)
    assert quality["size"]["bySource"] == {"generated": len(gen), "replay": len(rep)}
    assert quality["process"]["replayShare"] == round(len(rep) / len(records), 4)
    assert quality["process"]["decontamination"] == {"mybench": 1}
    assert quality["process"]["pii"] == manifest["filters"]["pii"]["stats"] != {}
    assert quality["process"]["drops"]["quality"] == {"duplicate_lines": 1, "refusal": 1}
    near_dups = quality["process"]["nearDuplicates"]
    assert near_dups["clusters"] == 1 and near_dups["duplicates"] == 1
    assert [(m["id"], m["kept"]) for m in near_dups["examples"][0]] == [("near-a", True), ("near-b", False)]
    assert len(quality["samples"]) == 5 and all(s["id"] in by_id for s in quality["samples"])
    assert p.quality is not None and p.quality["reportUri"] == job.uri("out/quality.json")
    assert p.quality["distinct2"] == quality["diversity"]["distinct2"]
    # no coverage plot: these staged records name no strategy, topic or label
    assert {pl["key"] for pl in manifest["plots"]} == {pl["key"] for pl in quality["plots"]} == {
        "plots/lengths.png", "plots/funnel.png"}
    for plot in manifest["plots"]:
        png = job.store.get(plot["key"]) or b""
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and hashlib.sha256(png).hexdigest() == plot["sha256"]
    assert "## Quality" in card and "(plots/lengths.png)" in card and "size_categories:\n- n<1K" in card
    # `datafoundry report` on the published dataset computes the same report from the manifest's recipe
    cli = subprocess.run([sys.executable, "-m", "datafoundry.cli", "report", job.uri("out"), "--json"],
                         env={**os.environ, **s3.env}, capture_output=True, text=True, timeout=300, check=False)
    assert cli.returncode == 0, cli.stderr
    assert {**json.loads(cli.stdout), "plots": quality["plots"]} == quality

    # loadable with Hugging Face datasets and pyarrow, from the downloaded objects
    import datasets
    import pyarrow.json as pajson

    files = job.download(tmp_path / "dl")
    ds = datasets.load_dataset("json", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == len(records) and "_source" in ds.column_names
    assert sum(pajson.read_json(f).num_rows for f in files) == len(records)

    # idempotent reruns: every stage reports the same counts and writes nothing new
    before = job.objects("data/")
    assert job.ok("filter", 0, 1).accepted == f1.accepted
    assert job.ok("dedup", 0).accepted == d.accepted
    assert job.ok("publish", 0).sha256 == p.sha256
    assert job.objects("data/") == before


def test_self_generated_replay_is_filtered_counted_apart_and_published_at_its_ratio(s3: S3, tmp_path: Path) -> None:
    """mix.replay.generate: the generator's replay records (meta.strategy replaySelf) pass the same filters,
    are counted apart from the target, and publish takes `ratio` of the dataset from them, tagged
    `_source: replay-self`."""
    rng = random.Random(11)
    job = WorkerJob.on_s3(s3, tmp_path)
    filters = [{"type": "length", "minChars": 40}, {"type": "language"}, {"type": "quality"}, {"type": "exactDedup"},
               {"type": "minhash", "threshold": 0.8}]
    job.setup(gen_spec(target={"records": 40}, filters=filters, mix={"replay": {"generate": {}, "ratio": 0.2}}))

    def domain(tag: str) -> dict[str, Any]:
        return {**record(rng, tag), "meta": {"strategy": "selfInstruct"}}

    def rehearsal(tag: str, response: str | None = None) -> dict[str, Any]:
        return {"id": tag, "instruction": question(rng), "response": response or text(rng),
                "meta": {"strategy": "replaySelf"}}

    replays = [rehearsal(f"r{i}") for i in range(11)]
    degenerate = rehearsal("r-degenerate", "\n".join(["Buy cheap products now at the market today."] * 8))
    copy = {**replays[0], "id": "r-copy"}  # an exact duplicate across shards: the global pass drops it
    job.stage_gen(0, 0, [[*[domain(f"d0-{i}") for i in range(25)], *replays[:6], degenerate]])
    job.stage_gen(0, 1, [[*[domain(f"d1-{i}") for i in range(25)], *replays[6:], copy]])

    f0, f1 = job.ok("filter", 0, 0), job.ok("filter", 0, 1)
    assert (f0.accepted, f0.accepted_replay, f0.rejected["quality"]) == (25, 6, 1)
    assert (f1.accepted, f1.accepted_replay) == (25, 6)
    d = job.ok("dedup", 0)
    assert (d.accepted, d.accepted_replay, d.rejected["exactDedup"]) == (50, 11, 1)

    p = job.ok("publish", 0)
    manifest, records = job.published()
    mine = [r for r in records if r["_source"] == "replay-self"]
    assert len(records) == 50 and len(mine) == 10  # 40 toward the target, then 10 / 50 = ratio 0.2
    assert p.accepted == 50 and p.accepted_replay == 10
    assert {r["meta"]["strategy"] for r in mine} == {"replaySelf"}
    assert {r["_source"] for r in records if r not in mine} == {"generated"}
    assert "r-copy" not in {r["id"] for r in records} and "r-degenerate" not in {r["id"] for r in records}
    assert manifest["replay"] == {"source": "replay-self", "ratio": 0.2, "wanted": 10, "records": 10, "available": 11,
                                  "achievedRatio": 0.2}
    assert manifest["funnel"]["published"] == {"generated": 40, "replay-self": 10, "total": 50}
    card = (job.store.get(layout.CARD) or b"").decode()
    assert "written by the generator model itself" in card and "`_source: replay-self`" in card
    quality = json.loads(job.store.get(layout.QUALITY) or b"{}")
    assert quality["size"]["bySource"] == {"generated": 40, "replay-self": 10}
    assert quality["process"]["replayShare"] == 0.2
    # a rerun selects the same records
    before = job.objects("data/")
    assert job.ok("dedup", 0).accepted_replay == 11
    assert job.objects("data/") == before


def test_publish_crash_before_manifest_then_identical_rerun(s3: S3, tmp_path: Path) -> None:
    from datafoundry.api.spec import DataFoundryJobSpec
    from datafoundry.workers.common import WorkerContext
    from datafoundry.workers.publish import publish_dataset

    rng = random.Random(9)
    job = WorkerJob.on_s3(s3, tmp_path).setup(gen_spec(
        filters=[{"type": "exactDedup"}, {"type": "minhash"}],
        output={"format": "parquet", "compression": "zstd", "shardSizeRecords": 40}))
    for k in range(2):
        job.stage_gen(0, k, [[record(rng, f"{k}-{i}") for i in range(80)]])
        job.ok("filter", 0, k)
    job.ok("dedup", 0)

    class ManifestFails:
        def __init__(self, inner: ObjectStore) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
            if key == layout.MANIFEST:
                raise ConnectionError("simulated crash before the manifest")
            self.inner.put(key, data, content_type)

    ctx = WorkerContext(stage=Stage.PUBLISH, plan=job.plan, spec=DataFoundryJobSpec.model_validate(job.spec), round=0,
                        shard=0, store=ManifestFails(job.store))  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        publish_dataset(ctx)
    crashed = job.objects("data/")
    assert len(crashed) == 4 and all(k.endswith(".parquet") for k in crashed)
    assert job.store.get(layout.MANIFEST) is None
    card = job.store.get(layout.CARD)

    report = job.store.get(layout.QUALITY)
    assert report is not None

    p = job.ok("publish", 0)
    assert job.objects("data/") == crashed  # byte-identical after the rerun
    assert job.store.get(layout.CARD) == card
    assert job.store.get(layout.QUALITY) == report
    manifest, records = job.published()
    assert manifest["records"] == p.accepted == len(records) == 160
    assert [s["key"] for s in manifest["shards"]] == sorted(crashed)

    import datasets

    files = job.download(tmp_path / "dl")
    ds = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == 160 and set(ds["_source"]) == {"generated"}


def test_curation_mode_end_to_end(s3: S3, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(11)
    job = WorkerJob.on_s3(s3, tmp_path)
    rows = [{"content": text(rng, 4), "n": i} for i in range(90)]
    dup = {**rows[0], "n": 999}
    job.put("input/a.jsonl", "".join(json.dumps(r) + "\n" for r in rows[:40]).encode())
    job.put("input/b.jsonl", "".join(json.dumps(r) + "\n" for r in [*rows[40:60], dup]).encode())
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows[60:]), buf)
    job.put("input/c.parquet", buf.getvalue())
    job.put("input/_SUCCESS", b"")
    job.setup({"target": {"records": 1000}, "seed": 3,
               "input": {"uris": [job.uri("input/")], "shards": 2, "textField": "content"},
               "filters": [{"type": "length", "minChars": 20}, {"type": "exactDedup"}]})

    f0 = job.ok("filter", 0, 0)  # a.jsonl, c.parquet
    f1 = job.ok("filter", 0, 1)  # b.jsonl
    assert (f0.generated, f1.generated) == (70, 21)
    d = job.ok("dedup", 0)
    assert d.generated == 91 and d.accepted == 90 and d.rejected["exactDedup"] == 1
    p = job.ok("publish", 0)
    manifest, records = job.published()
    assert p.accepted == len(records) == manifest["records"] == 90
    assert {r["_source"] for r in records} == {"input"}
    assert sorted(r["n"] for r in records) == list(range(90))


def test_malformed_lines_reported_and_threshold_fails(s3: S3, tmp_path: Path) -> None:
    rng = random.Random(13)
    job = WorkerJob.on_s3(s3, tmp_path).setup(gen_spec(filters=[{"type": "length", "minChars": 10}]))
    good = "".join(json.dumps(record(rng, f"g{i}")) + "\n" for i in range(150))
    job.stage_gen(0, 0, [(good + "{not json\n").encode()])
    p = job.ok("filter", 0, 0)
    assert p.accepted == 150 and p.rejected["malformed"] == 1
    assert "part-00000.jsonl line 151" in p.message

    lines = good.splitlines(keepends=True)
    bad = "".join(lines[:75]) + "[1, 2]\n" + "oops\n" * 5 + "".join(lines[75:])  # 6 of 156 lines
    job.stage_gen(0, 1, [bad.encode()])
    rc, progress, stderr = job.worker("filter", 0, 1)
    assert rc == EXIT_BAD_INPUT, stderr[-3000:]
    assert progress is not None and progress.state == "failed"
    assert f"{job.uri('out')}/_staging/{job.uid}/gen/r00/s00001/part-00000.jsonl line 76" in progress.message
    assert "a JSON list, not an object" in progress.message
    assert not job.store.exists(layout.done_key(job.uid, Stage.FILTER, 0, 1))


def test_missing_eval_set_and_replay_source_fail_clearly(s3: S3, tmp_path: Path) -> None:
    rng = random.Random(17)
    job = WorkerJob.on_s3(s3, tmp_path)
    missing_eval = job.uri("evals/nope.jsonl")
    job.setup(gen_spec(filters=[{"type": "decontamination", "evalSets": [missing_eval]}]))
    job.stage_gen(0, 0, [[record(rng, "x")]])
    rc, progress, _ = job.worker("filter", 0, 0)
    assert rc == EXIT_BAD_INPUT and progress is not None and missing_eval in progress.message

    job2 = WorkerJob.on_s3(s3, tmp_path)
    job2.setup(gen_spec(generator={"model": "org/tiny", "shards": 1},
                        mix={"replay": {"uri": job2.uri("replay/none/"), "ratio": 0.1}}))
    job2.stage_gen(0, 0, [[record(rng, "y")]])
    job2.ok("filter", 0, 0)
    job2.ok("dedup", 0)
    rc, progress, _ = job2.worker("publish", 0)
    assert rc == EXIT_BAD_INPUT and progress is not None and job2.uri("replay/none/") in progress.message
    assert job2.store.get(layout.MANIFEST) is None and not list(job2.store.list("data/"))


# --------------------------------------------------------------------------------------------
# malformed inputs: every kind of object a worker reads, every kind of damage
# --------------------------------------------------------------------------------------------

GOOD_LINES = [json.dumps({"id": f"m{i}", "text": f"Record {i}: a perfectly ordinary line of text."}) for i in range(5)]
DEAD_ENDPOINT = "http://127.0.0.1:9/v1"  # never reached: inputs are read and checked first


def _gzip_cut(lines: list[str]) -> bytes:
    import gzip

    whole = gzip.compress(("\n".join(lines * 40) + "\n").encode())
    return whole[: len(whole) // 2]


def _garbage() -> bytes:
    rng = random.Random(99)
    return bytes(rng.randrange(128, 256) for _ in range(4000)) + b"\n" + bytes(rng.randrange(256) for _ in range(60000))


#: name -> (object name, bytes, what the error says about the first bad line)
DAMAGE: dict[str, tuple[str, bytes, str]] = {
    "binary-garbage": ("garbage.jsonl", _garbage(), r"line 1: not UTF-8 text \(byte 0x[0-9a-f]{2} at byte 1 "),
    "truncated-json": ("cut.jsonl", ("\n".join(GOOD_LINES) + '\n{"id": "cut", "text": "half a rec').encode(),
                       r"line 6: not valid JSON \(Unterminated string"),
    "latin-1": ("latin1.jsonl", "\n".join(json.dumps({"text": f"café n°{i}"}, ensure_ascii=False)
                                           for i in range(5)).encode("latin-1"),
                r"line 1: not UTF-8 text \(byte 0xe9 at byte 14 of the line\)"),
    "utf-16": ("utf16.jsonl", ("\n".join(GOOD_LINES) + "\n").encode("utf-16"),
               r"line 1: UTF-16/32 text \(byte order mark\); only UTF-8 is supported"),
    "truncated-gzip": ("cut.jsonl.gz", _gzip_cut(GOOD_LINES), r"line \d+: corrupt or truncated gzip data"),
}
#: Where a damaged object can be: the stage that reads it. Seeds and documents are never compressed.
ROLES = ["input", "evalSet", "replay", "seeds", "documents"]
CASES = [(role, damage) for role in ROLES for damage in DAMAGE
         if not (role in ("seeds", "documents") and damage == "truncated-gzip")]


def _run_role(job: WorkerJob, role: str, uri: str, rng: random.Random) -> tuple[int, Progress | None, str]:
    """Set the job up so that `uri` is read in `role`, run the stages before it, then the stage that reads it."""
    if role == "input":
        job.setup({"target": {"records": 10}, "input": {"uris": [uri]}, "filters": [{"type": "exactDedup"}]})
        return job.worker("filter", 0, 0)
    if role == "evalSet":
        job.setup(gen_spec(filters=[{"type": "decontamination", "evalSets": [uri]}]))
        job.stage_gen(0, 0, [[record(rng, "x")]])
        return job.worker("filter", 0, 0)
    if role == "replay":
        job.setup(gen_spec(generator={"model": "org/tiny", "shards": 1}, mix={"replay": {"uri": uri, "ratio": 0.5}}))
        job.stage_gen(0, 0, [[record(rng, f"y{i}") for i in range(4)]])
        job.ok("filter", 0, 0)
        job.ok("dedup", 0)
        return job.worker("publish", 0)
    generator = {"model": "org/tiny", "shards": 1, "engine": {"type": "openai", "endpoint": DEAD_ENDPOINT}}
    task: dict[str, Any] = {"domain": "ops", "seeds": {"uri": uri}} if role == "seeds" else {
        "domain": "ops", "documents": {"uri": uri}}
    job.setup(gen_spec(task=task, generator=generator))
    return job.worker("generate", 0, 0, "--records", "4")


@pytest.mark.parametrize(("role", "damage"), CASES, ids=[f"{r}-{d}" for r, d in CASES])
def test_damaged_object_fails_naming_object_and_line_and_publishes_nothing(
    s3: S3, tmp_path: Path, role: str, damage: str
) -> None:
    import re

    name, data, error = DAMAGE[damage]
    job = WorkerJob.on_s3(s3, tmp_path)
    uri = job.put(f"damaged/{name}", data)
    rc, progress, stderr = _run_role(job, role, uri, random.Random(3))
    assert rc == EXIT_BAD_INPUT, f"{role}/{damage}: exit {rc}\n{stderr[-3000:]}"
    assert progress is not None and progress.state == "failed"
    message = progress.message
    # The object's full URI, then the line, then what is wrong with it.
    assert re.search(re.escape(uri) + " " + error, message), f"{role}/{damage}: {message}"
    assert "Traceback" not in stderr, stderr[-3000:]
    # Nothing partial: no dataset, no manifest, and the failed stage did not mark itself done.
    assert job.store.get(layout.MANIFEST) is None and job.store.get(layout.CARD) is None
    assert not list(job.store.list("data/"))
    stage = {"input": Stage.FILTER, "evalSet": Stage.FILTER, "replay": Stage.PUBLISH}.get(role, Stage.GENERATE)
    assert not job.store.exists(layout.done_key(job.uid, stage, 0, 0))


def test_documents_text_object_in_utf16_or_over_the_size_limit_is_refused(s3: S3, tmp_path: Path) -> None:
    job = WorkerJob.on_s3(s3, tmp_path)
    utf16 = job.put("docs/handbook.txt", "Chapter 1\nLeave policy.\n".encode("utf-16"))
    rc, progress, _ = _run_role(job, "documents", utf16, random.Random(1))
    assert rc == EXIT_BAD_INPUT and progress is not None
    assert f"documents {utf16} line 1: not UTF-8 text (UTF-16/32: byte order mark)" in progress.message
    big = job.put("docs/big.txt", b"word " * 50_000)  # 250 kB, limit set to 100 kB below
    job2 = WorkerJob.on_s3(s3, tmp_path)
    job2.setup(gen_spec(task={"domain": "ops", "documents": {"uri": big}},
                        generator={"model": "org/tiny", "shards": 1,
                                   "engine": {"type": "openai", "endpoint": DEAD_ENDPOINT}}))
    rc, progress, _ = job2.worker("generate", 0, 0, "--records", "4", env={"DATAFOUNDRY_MAX_LINE_BYTES": "100000"})
    assert rc == EXIT_BAD_INPUT and progress is not None
    assert f"documents {big}: larger than the limit of 100000 bytes (DATAFOUNDRY_MAX_LINE_BYTES)" in progress.message


def test_long_seed_line_is_refused_without_reading_it_whole(s3: S3, tmp_path: Path) -> None:
    job = WorkerJob.on_s3(s3, tmp_path)
    uri = job.put("seeds/long.jsonl", ("\n".join(GOOD_LINES[:2]) + "\n").encode()
                  + b'{"instruction": "' + b"a" * 3_000_000 + b'"}\n')
    job.setup(gen_spec(task={"domain": "ops", "seeds": {"uri": uri}},
                       generator={"model": "org/tiny", "shards": 1,
                                  "engine": {"type": "openai", "endpoint": DEAD_ENDPOINT}}))
    rc, progress, _ = job.worker("generate", 0, 0, "--records", "4", env={"DATAFOUNDRY_MAX_LINE_BYTES": "1048576"})
    assert rc == EXIT_BAD_INPUT and progress is not None
    assert (f"seeds {uri} line 3: line of 3000019 bytes is longer than the limit of 1048576 bytes "
            "(DATAFOUNDRY_MAX_LINE_BYTES); skipped") in progress.message


# Runs a command and writes the peak RSS of it (KiB, Linux ru_maxrss) to the file named first.
PEAK_RSS = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
            "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
            "sys.exit(rc)")


def _upload_streamed(s3: S3, key: str, pieces: Iterator[bytes], part_size: int = 64 * 1024 * 1024) -> int:
    """Multipart upload from a generator of byte pieces, holding one part in memory at a time."""
    client, bucket = s3.client, s3.bucket
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts, buffer, total = [], bytearray(), 0

    def send(data: bytes) -> None:
        number = len(parts) + 1
        etag = client.upload_part(Bucket=bucket, Key=key, PartNumber=number, UploadId=upload, Body=data)["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})

    for piece in pieces:
        buffer += piece
        total += len(piece)
        while len(buffer) >= part_size:
            send(bytes(buffer[:part_size]))
            del buffer[:part_size]
    send(bytes(buffer))
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
    return total


@pytest.mark.slow
def test_a_1gib_line_is_streamed_past_with_bounded_memory(s3: S3, tmp_path: Path) -> None:
    """A real 1 GiB line in the middle of an input object: reported as malformed with object and line,
    the 300 records around it are read, and the worker's peak RSS stays far below the line's size."""
    rng = random.Random(21)
    before = "".join(json.dumps(record(rng, f"b{i}")) + "\n" for i in range(150)).encode()
    after = "".join(json.dumps(record(rng, f"a{i}")) + "\n" for i in range(150)).encode()
    huge = 1024**3
    head = b'{"id": "huge", "text": "'
    chunk = b"x" * (16 * 1024 * 1024)

    def pieces() -> Iterator[bytes]:
        yield before + head
        left = huge - len(head) - 2
        while left > 0:
            yield chunk[: min(left, len(chunk))]
            left -= len(chunk)
        yield b'"}\n' + after

    job = WorkerJob.on_s3(s3, tmp_path)
    key = f"{job.prefix}/input/huge.jsonl"
    try:
        size = _upload_streamed(s3, key, pieces())
        assert size == len(before) + huge + 1 + len(after)
        job.setup({"target": {"records": 1000}, "input": {"uris": [job.uri("input/huge.jsonl")]},
                   "filters": [{"type": "length", "minChars": 10}]})

        def run(extra_env: dict[str, str]) -> tuple[int, Progress | None, int]:
            rss = tmp_path / f"rss-{uuid.uuid4().hex[:6]}"
            rc, progress, stderr = job.worker("filter", 0, 0, wrap=(sys.executable, "-c", PEAK_RSS, str(rss)),
                                              env=extra_env)
            assert rc == 0, stderr[-3000:]
            return rc, progress, int(rss.read_text())

        _, progress, peak_kib = run({})
        assert progress is not None and progress.accepted == 300 and progress.rejected["malformed"] == 1
        assert (f"{job.uri('input/huge.jsonl')} line 151: line of {huge} bytes is longer than the limit of "
                f"{64 * 1024 * 1024} bytes") in progress.message
        # The same worker on the same object with a 1 MiB limit: the difference is what the default
        # 64 MiB limit buffers, bounded, not the 1 GiB line.
        job.store.delete_prefix(f"_staging/{job.uid}/")
        _, small, small_kib = run({"DATAFOUNDRY_MAX_LINE_BYTES": str(1024 * 1024)})
        assert small is not None and small.accepted == 300
        print(f"\n1 GiB line: worker peak RSS {peak_kib / 1024:.0f} MiB with the 64 MiB limit, "
              f"{small_kib / 1024:.0f} MiB with a 1 MiB limit")
        assert peak_kib < small_kib + 200 * 1024, (peak_kib, small_kib)
        assert peak_kib < 600 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB for a 1 GiB line"
    finally:
        s3.client.delete_object(Bucket=s3.bucket, Key=key)
