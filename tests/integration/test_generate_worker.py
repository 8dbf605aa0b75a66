"""`datafoundry worker generate` for real: the tiny model on vLLM (CPU), SeaweedFS S3, subprocesses.

Most tests use the shared OpenAI-compatible vLLM server (the `openai` engine); one runs the
in-process `vllm` engine. A random model writes garbage, so the strategies' structured output
(bounded strings, no free numbers) is what makes every completion parse.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from datafoundry.api.spec import DataFoundryJobSpec
from datafoundry.api.stages import Stage
from datafoundry.engines.server import VLLMServer, free_port, vllm_cpu_env
from datafoundry.pipeline import layout
from datafoundry.pipeline.plan import JobRef, build_plan
from datafoundry.strategies.evol_instruct import OPERATIONS
from datafoundry.strategies.magpie import short_hash
from datafoundry.testing.testbed import S3
from datafoundry.testing.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.vllm]

DATAFOUNDRY = str(Path(sys.executable).with_name("datafoundry"))
SEEDS = [
    {"instruction": "How do I restart a deployment?", "response": "Run kubectl rollout restart deployment/NAME."},
    {"instruction": "What is a pod?", "response": "The smallest deployable unit: one or more containers."},
    {"instruction": "How do I see why a pod is pending?", "response": "kubectl describe pod NAME shows events."},
]
SHORT = {"maxChars": 40}  # short fields keep the tiny model's answers well inside maxTokens
SAMPLING = {"maxTokens": 128, "temperature": 1.0}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def base_spec(s3: S3, prefix: str, endpoint: str, **generator: Any) -> dict[str, Any]:
    gen: dict[str, Any] = {
        "model": "tiny-llama",
        "gpusPerShard": 0,
        "batchSize": 4,
        "sampling": SAMPLING,
        "engine": {"type": "openai", "endpoint": endpoint, "maxConcurrency": 4, "maxRetries": 5},
        "strategies": [{"name": "selfInstruct", "options": SHORT}],
        "screens": {"enabled": False},  # the tiny random model: mechanics, not content
    }
    gen.update(generator)
    return {
        "task": {"type": "instruction", "domain": "Kubernetes operations", "seeds": {"inline": SEEDS}},
        "target": {"records": 10},
        "generator": gen,
        "output": {
            "uri": f"s3://{s3.bucket}/{prefix}",
            "endpointURL": s3.endpoint_url,
            "credentials": {"secretRef": {"name": "s3-creds"}},
        },
        "seed": 7,
    }


class Run:
    """A plan on disk and the worker's objects in S3."""

    def __init__(self, s3: S3, tmp_path: Path, spec: dict[str, Any], uid: str | None = None) -> None:
        self.s3 = s3
        self.uid = uid or uuid.uuid4().hex
        self.spec = DataFoundryJobSpec.model_validate(spec).model_dump(mode="json", by_alias=True, exclude_none=True)
        self.prefix = spec["output"]["uri"].split("/", 3)[3].strip("/")
        self.dir = tmp_path / self.uid
        self.dir.mkdir(parents=True)
        self.plan = self.dir / "plan.json"
        self.plan.write_text(build_plan(JobRef(name="gen-test", namespace="t", uid=self.uid), self.spec).to_json())
        self.termination = self.dir / "termination-log"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = vllm_cpu_env()
        env.update({k: v for k, v in self.s3.env.items() if k.startswith("AWS_")})
        env["DATAFOUNDRY_TERMINATION_LOG"] = str(self.termination)
        env.pop("DATAFOUNDRY_METRICS_PORT", None)
        env.update(extra or {})
        return env

    def argv(self, records: int, shard: int = 0, round_: int = 0) -> list[str]:
        return [DATAFOUNDRY, "worker", "generate", "--plan", str(self.plan), "--round", str(round_),
                "--records", str(records), "--shard", str(shard)]

    def run(self, records: int, shard: int = 0, timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(records, shard), env=self.env(kw.pop("env", None)), capture_output=True,
                              text=True, timeout=timeout, check=False, **kw)

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}"

    def get(self, rel: str) -> bytes | None:
        try:
            body = self.s3.client.get_object(Bucket=self.s3.bucket, Key=self.key(rel))["Body"]
            return bytes(body.read())
        except self.s3.client.exceptions.NoSuchKey:
            return None

    def shard_keys(self, shard: int = 0, round_: int = 0) -> list[str]:
        prefix = self.key(layout.shard_prefix(self.uid, Stage.GENERATE, round_, shard)) + "/"
        pages = self.s3.client.get_paginator("list_objects_v2").paginate(Bucket=self.s3.bucket, Prefix=prefix)
        return sorted(obj["Key"][len(prefix):] for page in pages for obj in page.get("Contents", []))

    def parts(self, shard: int = 0) -> dict[str, bytes]:
        base = layout.shard_prefix(self.uid, Stage.GENERATE, 0, shard)
        out = {}
        for name in self.shard_keys(shard):
            if name.startswith("part-"):
                data = self.get(f"{base}/{name}")
                assert data is not None
                out[name] = data
        return out

    def records(self, shard: int = 0) -> list[dict[str, Any]]:
        return [json.loads(line) for data in self.parts(shard).values() for line in data.decode().splitlines()]

    def done(self, shard: int = 0) -> dict[str, Any]:
        data = self.get(layout.done_key(self.uid, Stage.GENERATE, 0, shard))
        assert data is not None, f"no _DONE.json for shard {shard}"
        result: dict[str, Any] = json.loads(data)
        return result


def ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"worker exited {proc.returncode}:\n{proc.stderr[-4000:]}"


def content(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("id", "meta")}


def nonempty_strings(record: dict[str, Any], *fields: str) -> None:
    for f in fields:
        assert isinstance(record[f], str), (f, record)
        assert record[f].strip(), (f, record)


@pytest.fixture
def prefix() -> str:
    return f"tests/generate/{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------------------------
# every strategy, every shape
# --------------------------------------------------------------------------------------------


def test_instruction_strategies_mix_and_parse(s3: S3, tmp_path: Path, prefix: str, vllm_server: VLLMServer) -> None:
    docs = "\n".join(json.dumps({"text": f"Section {i}. " + "A Deployment manages ReplicaSets and rolls out "
                                 "new pod templates gradually; a Service selects pods by label. " * 4})
                     for i in range(3))
    s3.client.put_object(Bucket=s3.bucket, Key=f"{prefix}-in/docs.jsonl", Body=docs.encode())
    s3.client.put_object(Bucket=s3.bucket, Key=f"{prefix}-in/seeds.jsonl",
                         Body="".join(json.dumps(s) + "\n" for s in SEEDS).encode())
    spec = base_spec(s3, prefix, vllm_server.base_url, shards=2, strategies=[
        {"name": "selfInstruct", "weight": 1, "options": SHORT},
        {"name": "evolInstruct", "weight": 1, "options": SHORT},
        {"name": "persona", "weight": 1, "options": SHORT},
        {"name": "documentQA", "weight": 2, "options": SHORT},
        {"name": "taxonomy", "weight": 1, "options": SHORT},
    ])
    spec["task"]["seeds"] = {"uri": f"s3://{s3.bucket}/{prefix}-in/seeds.jsonl"}
    spec["task"]["documents"] = {"uri": f"s3://{s3.bucket}/{prefix}-in/docs.jsonl", "chunkChars": 200,
                                 "chunkOverlapChars": 20}
    spec["task"]["taxonomy"] = [{"name": "networking", "subtopics": ["services", "ingress"]}, {"name": "storage"}]
    run = Run(s3, tmp_path, spec)
    for shard in (0, 1):
        ok(run.run(records=24, shard=shard))
    records = run.records(0) + run.records(1)
    done = [run.done(0), run.done(1)]
    assert sum(d["generated"] for d in done) == len(records)
    assert sum(d["parseFailures"] for d in done) == 0, done
    assert len(records) == 24
    assert len({r["id"] for r in records}) == 24
    # Weighted mixing is exact over whole periods: 24 records = 4 periods of weights 1+1+1+2+1.
    assert Counter(r["meta"]["strategy"] for r in records) == {
        "selfInstruct": 4, "evolInstruct": 4, "persona": 4, "documentQA": 8, "taxonomy": 4}
    for r in records:
        meta = r["meta"]
        assert meta["model"] == "tiny-llama"
        assert meta["round"] == 0 and meta["shard"] in (0, 1)
        assert {"strategy", "sampling", "chunk", "index", "recipeHash"} <= set(meta)
        assert isinstance(meta["sampling"]["seed"], int)
        if meta["strategy"] == "documentQA":
            nonempty_strings(r, "question", "answer", "context")
            assert meta["source"]["chunk"].startswith(f"s3://{s3.bucket}/{prefix}-in/docs.jsonl:")
        else:
            nonempty_strings(r, "instruction", "response")
        # Asked, then answered: the question is one line (the model continued a numbered list of
        # questions; maxChars bounds structured fields only), the answer a free-text chat reply.
        assert "\n" not in r.get("instruction", r.get("question", ""))
    for r in records:  # each evolved record keeps its path: the seed, the surviving generations, the eliminated
        if r["meta"]["strategy"] == "evolInstruct":
            source = r["meta"]["source"]
            assert source["seed"].startswith(f"s3://{s3.bucket}/{prefix}-in/seeds.jsonl:"), source
            generations = [e["generation"] for e in source["evolutions"] + source["eliminated"]]
            assert sorted(generations) == [1, 2, 3] and source["evolutions"], source
            assert {e["operation"] for e in source["evolutions"]} <= set(OPERATIONS), source
    topics = Counter(r["meta"]["source"].get("subtopic", r["meta"]["source"]["topic"])
                     for r in records if r["meta"]["strategy"] == "taxonomy")
    assert topics == {"services": 1, "ingress": 1, "storage": 2}
    term = json.loads(run.termination.read_text())
    assert term["state"] == "done" and term["generated"] == len(run.records(1))
    assert term["promptTokens"] > 0 and term["completionTokens"] > 0


@pytest.mark.parametrize(
    ("task_type", "strategy", "extra"),
    [
        ("dialogue", "multiTurn", {"turns": 2}),
        # A random model's greedy judge may give every answer the same score: margin 0 lets the mechanics through.
        ("preference", "preferencePairs", {"samples": 3, "minMargin": 0}),
        ("classification", "selfInstruct", {}),
        ("qa", "persona", {}),
    ],
)
def test_shapes_by_task_type(s3: S3, tmp_path: Path, prefix: str, vllm_server: VLLMServer, task_type: str,
                             strategy: str, extra: dict[str, Any]) -> None:
    bounded = {} if strategy == "preferencePairs" else SHORT  # its answers are free text: no maxChars
    spec = base_spec(s3, prefix, vllm_server.base_url,
                     strategies=[{"name": strategy, "options": {**bounded, **extra}}])
    spec["task"]["type"] = task_type
    if task_type == "classification":
        spec["task"]["labels"] = [{"name": "bug"}, {"name": "question", "description": "asks something"}]
    run = Run(s3, tmp_path, spec)
    ok(run.run(records=6))
    records = run.records()
    assert len(records) + run.done()["parseFailures"] == 6
    assert len(records) >= 5, run.done()
    for r in records:
        assert r["meta"]["strategy"] == strategy
        if task_type == "dialogue":
            roles = [m["role"] for m in r["messages"]]
            assert roles in (["user", "assistant"] * 1, ["user", "assistant"] * 2), roles
            assert all(m["content"].strip() for m in r["messages"])
        elif task_type == "preference":
            nonempty_strings(r, "prompt", "chosen", "rejected")
            assert r["chosen"] != r["rejected"]
            # Three answers, each scored by the judge (the grammar allows only 0..10), ranked by score.
            src = r["meta"]["source"]
            assert src["samples"] == 3 and len(src["scores"]) == 3, src
            chosen, rejected = src["scores"][src["chosen"]], src["scores"][src["rejected"]]
            assert src["chosen"] != src["rejected"] and src["margin"] == chosen - rejected >= 0, src
            assert chosen == max(s for s in src["scores"] if s is not None), src
        elif task_type == "classification":
            nonempty_strings(r, "text")
            assert r["label"] in ("bug", "question")
        else:
            nonempty_strings(r, "question", "answer")


OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 30},
        "severity": {"type": "string", "enum": ["low", "medium", "high"]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "minItems": 1, "maxItems": 3},
        "urgent": {"type": "boolean"},
    },
    "required": ["title", "severity", "tags", "urgent"],
    "additionalProperties": False,
}


def test_structured_output_follows_output_schema(s3: S3, tmp_path: Path, prefix: str,
                                                 vllm_server: VLLMServer) -> None:
    spec = base_spec(s3, prefix, vllm_server.base_url,
                     strategies=[{"name": "selfInstruct"}, {"name": "persona"}])
    spec["task"]["outputSchema"] = OUTPUT_SCHEMA
    run = Run(s3, tmp_path, spec)
    ok(run.run(records=8))
    records = run.records()
    assert len(records) == 8, run.done()
    for r in records:
        jsonschema.validate(content(r), OUTPUT_SCHEMA)


# --------------------------------------------------------------------------------------------
# LLM-as-judge: scored in the generator pod, dropped by the filter pod
# --------------------------------------------------------------------------------------------


def filter_worker(run: Run, shard: int = 0) -> dict[str, Any]:
    """Run `datafoundry worker filter` on the run's plan; return its summary object."""
    proc = subprocess.run([DATAFOUNDRY, "worker", "filter", "--plan", str(run.plan), "--round", "0",
                           "--shard", str(shard)], env=run.env(), capture_output=True, text=True, timeout=300,
                          check=False)
    ok(proc)
    summary = run.get(f"{layout.shard_prefix(run.uid, Stage.FILTER, 0, shard)}/summary.json")
    assert summary is not None
    result: dict[str, Any] = json.loads(summary)
    return result


def test_judge_scores_in_the_generator_pod_and_the_filter_drops_low_scores(
        s3: S3, tmp_path: Path, prefix: str, vllm_server: VLLMServer) -> None:
    spec = base_spec(s3, prefix, vllm_server.base_url)
    spec["filters"] = [{"type": "judge", "minScore": 5}]
    run = Run(s3, tmp_path, spec)
    ok(run.run(records=8))
    records = run.records()
    assert len(records) == 8, run.done()
    scores = [r["meta"]["judge"]["score"] for r in records]
    assert all(r["meta"]["judge"]["model"] == vllm_server.model for r in records)
    # The grammar allows only the integers 0..10, so every answer of even a random model parses.
    assert all(isinstance(s, float) and s == int(s) and 0 <= s <= 10 for s in scores), scores
    # Scoring is greedy and seeded by the record: another job with the same recipe gets the same scores.
    again = Run(s3, tmp_path, spec)
    ok(again.run(records=8))
    assert [r["meta"]["judge"]["score"] for r in again.records()] == scores

    summary = filter_worker(run)
    low = sum(s < 5 for s in scores)
    assert summary["funnel"]["droppedBy"]["judge"] == ({"below_min_score": low} if low else {})
    assert summary["records"] == 8 - low
    kept = [json.loads(line) for part in summary["parts"] for line in (run.s3.client.get_object(
        Bucket=run.s3.bucket, Key=f"{run.prefix}/{part['key']}")["Body"].read().decode().splitlines())]
    assert sorted(r["id"] for r in kept) == sorted(r["id"] for r in records if r["meta"]["judge"]["score"] >= 5)


def test_curation_judge_scores_through_the_endpoint_in_the_filter_pod(
        s3: S3, tmp_path: Path, prefix: str, vllm_server: VLLMServer) -> None:
    key = f"{prefix}/in/docs.jsonl"
    docs = [{"id": f"d{i}", "text": f"Step {i}: drain node-{i} before upgrading its kubelet."} for i in range(10)]
    s3.client.put_object(Bucket=s3.bucket, Key=key, Body="".join(json.dumps(d) + "\n" for d in docs).encode())
    spec = base_spec(s3, prefix, vllm_server.base_url)
    for field in ("generator", "task"):
        del spec[field]
    spec["input"] = {"uris": [f"s3://{s3.bucket}/{key}"]}
    spec["filters"] = [{"type": "length", "minChars": 10},
                       {"type": "judge", "minScore": 4, "model": vllm_server.model,
                        "engine": {"type": "openai", "endpoint": vllm_server.base_url, "maxConcurrency": 4}}]
    run = Run(s3, tmp_path, spec)
    summary = filter_worker(run)
    assert summary["funnel"]["seen"] == 10
    stats = summary["stats"]["judge"]
    assert sum(stats.values()) == 10 and "unscored" not in stats, stats
    low = sum(n for k, n in stats.items() if int(k.removeprefix("score_")) < 4)
    assert summary["records"] == 10 - low
    assert summary["funnel"]["droppedBy"]["judge"] == ({"below_min_score": low} if low else {})


# --------------------------------------------------------------------------------------------
# killed mid-shard: resume gives exactly the uninterrupted records
# --------------------------------------------------------------------------------------------


class FaultyProxy:
    """An HTTP proxy on 127.0.0.1 in front of the vLLM server: answers the first POSTs with the
    given statuses (429, 503...), then forwards, optionally after a delay. `in_flight` counts the
    requests it is still forwarding: a killed client's request runs on upstream to its end."""

    def __init__(self, upstream: str, failures: list[int] | None = None, delay: float = 0.0,
                 always: int | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.failures = list(failures or [])
        self.delay = delay
        self.always = always
        self.seen: Counter[int] = Counter()
        self.in_flight = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with proxy.lock:
                    status = proxy.always or (proxy.failures.pop(0) if proxy.failures else None)
                if status is not None:
                    proxy.reply(self, status, json.dumps({"error": {"message": "injected", "code": status}}).encode(),
                                {"Retry-After": "0"} if status == 429 else {})
                    return
                with proxy.lock:
                    proxy.in_flight += 1
                try:
                    self.forward(body)
                finally:
                    with proxy.lock:
                        proxy.in_flight -= 1

            def forward(self, body: bytes) -> None:
                time.sleep(proxy.delay)
                req = urllib.request.Request(proxy.upstream + self.path, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=120) as resp:
                        proxy.reply(self, resp.status, resp.read(), {})
                except urllib.error.HTTPError as e:
                    proxy.reply(self, e.code, e.read(), {})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reply(self, handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        with self.lock:
            self.seen[status] += 1
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(body)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FaultyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait_for(predicate: Any, timeout: float, proc: subprocess.Popen[str] | None = None) -> None:
    def probe() -> bool:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"worker exited {proc.returncode} early")
        return False

    wait_for("the worker", probe, timeout, interval=0.02)


def test_killed_worker_resumes_to_the_same_records(s3: S3, tmp_path: Path, prefix: str,
                                                   vllm_server: VLLMServer) -> None:
    records = 24  # 6 chunks of 4
    with FaultyProxy(vllm_server.root_url, delay=0.15) as proxy:
        spec = base_spec(s3, prefix, proxy.url, strategies=[
            {"name": "selfInstruct", "options": SHORT}, {"name": "evolInstruct", "options": SHORT}])
        reference = Run(s3, tmp_path, spec)
        ok(reference.run(records))
        killed = Run(s3, tmp_path, spec)
        assert killed.spec == reference.spec  # same recipe, other job uid: same records expected
        first = layout.part_key(killed.uid, Stage.GENERATE, 0, 0, 0)
        proc = subprocess.Popen(killed.argv(records), env=killed.env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: killed.get(first) is not None, 120, proc)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        before = killed.parts()
        assert "_DONE.json" not in killed.shard_keys(), "the worker finished before it was killed"
        assert 1 <= len(before) < 6, sorted(before)
        # The killed worker's last request still runs on the server. Resuming beside it would batch
        # the new requests with it, and a batch's other rows change the float sums enough to flip
        # a near-tie token of the random model: a changed batch, not a changed recipe.
        _wait_for(lambda: proxy.in_flight == 0, 120)
        ok(killed.run(records))

    expected = reference.parts()
    assert sorted(expected) == [f"part-{c:05d}.jsonl" for c in range(6)]
    got = killed.parts()
    assert sorted(got) == sorted(expected)  # no missing and no extra part
    for name, data in before.items():
        assert got[name] == data  # parts written before the kill are never rewritten
    assert [content(r) for r in killed.records()] == [content(r) for r in reference.records()]
    assert [r["id"] for r in killed.records()] == [r["id"] for r in reference.records()]
    assert len({r["id"] for r in killed.records()}) == len(killed.records())
    ref_done, got_done = reference.done(), killed.done()
    for field in ("generated", "parseFailures", "promptTokens", "completionTokens", "chunksDone"):
        assert got_done[field] == ref_done[field], field
    # A finished shard is a no-op when run again.
    ok(killed.run(records))
    assert killed.parts() == got


# --------------------------------------------------------------------------------------------
# 429 / 5xx
# --------------------------------------------------------------------------------------------


def test_429_and_5xx_are_retried(s3: S3, tmp_path: Path, prefix: str, vllm_server: VLLMServer) -> None:
    with FaultyProxy(vllm_server.root_url, failures=[429, 429, 503, 502, 500]) as proxy:
        spec = base_spec(s3, prefix, proxy.url)
        run = Run(s3, tmp_path, spec)
        direct = Run(s3, tmp_path, base_spec(s3, prefix, vllm_server.base_url))
        ok(run.run(records=6))
        assert proxy.seen[429] == 2 and proxy.seen[503] == 1 and proxy.seen[502] == 1 and proxy.seen[500] == 1
        assert proxy.seen[200] == 12  # each record is asked, then answered: two calls
    assert len(run.records()) + run.done()["parseFailures"] == 6
    ok(direct.run(records=6))
    assert [content(r) for r in run.records()] == [content(r) for r in direct.records()]


def test_exhausted_retries_fail_retryably(s3: S3, tmp_path: Path, prefix: str, vllm_server: VLLMServer) -> None:
    with FaultyProxy(vllm_server.root_url, always=503) as proxy:
        spec = base_spec(s3, prefix, proxy.url)
        spec["generator"]["engine"]["maxRetries"] = 1
        run = Run(s3, tmp_path, spec)
        proc = run.run(records=2)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proxy.seen[503] >= 2
    assert not [k for k in run.shard_keys() if k.startswith("part-")]
    assert json.loads(run.termination.read_text())["state"] == "failed"


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------


def _bad_seeds(s3: S3, prefix: str, spec: dict[str, Any]) -> str:
    body = json.dumps(SEEDS[0]) + "\n" + json.dumps(SEEDS[1]) + "\n{\"instruction\": oops}\n"
    s3.client.put_object(Bucket=s3.bucket, Key=f"{prefix}-in/seeds.jsonl", Body=body.encode())
    spec["task"]["seeds"] = {"uri": f"s3://{s3.bucket}/{prefix}-in/seeds.jsonl"}
    return f"s3://{s3.bucket}/{prefix}-in/seeds.jsonl line 3"


def _missing_seeds(s3: S3, prefix: str, spec: dict[str, Any]) -> str:
    spec["task"]["seeds"] = {"uri": f"s3://{s3.bucket}/{prefix}-in/nope.jsonl"}
    return f"s3://{s3.bucket}/{prefix}-in/nope.jsonl: object not found"


def _not_object_seeds(s3: S3, prefix: str, spec: dict[str, Any]) -> str:
    s3.client.put_object(Bucket=s3.bucket, Key=f"{prefix}-in/seeds.jsonl", Body=b'{"a": "b"}\n\n[1, 2]\n')
    spec["task"]["seeds"] = {"uri": f"s3://{s3.bucket}/{prefix}-in/seeds.jsonl"}
    return f"s3://{s3.bucket}/{prefix}-in/seeds.jsonl line 3: not a JSON object"


def _bad_documents(s3: S3, prefix: str, spec: dict[str, Any]) -> str:
    s3.client.put_object(Bucket=s3.bucket, Key=f"{prefix}-in/docs/a.jsonl",
                         Body=b'{"text": "fine text here"}\n{"body": "no text field"}\n')
    spec["task"]["documents"] = {"uri": f"s3://{s3.bucket}/{prefix}-in/docs/"}
    spec["generator"]["strategies"] = [{"name": "documentQA"}]
    return f"s3://{s3.bucket}/{prefix}-in/docs/a.jsonl line 2"


def _bad_schema(s3: S3, prefix: str, spec: dict[str, Any]) -> str:
    spec["task"]["outputSchema"] = {"type": "object", "properties": {"a": {"type": "strnig"}}}
    return "task.outputSchema at properties/a/type"


def _missing_model(s3: S3, prefix: str, spec: dict[str, Any]) -> str:
    spec["generator"]["model"] = "/nonexistent/models/tiny"
    spec["generator"]["engine"] = {"type": "vllm"}
    return "generator.model /nonexistent/models/tiny"


@pytest.mark.parametrize("make", [_bad_seeds, _missing_seeds, _not_object_seeds, _bad_documents, _bad_schema,
                                  _missing_model])
def test_bad_input_fails_cleanly(s3: S3, tmp_path: Path, prefix: str, make: Any) -> None:
    spec = base_spec(s3, prefix, "http://127.0.0.1:9/v1")  # never contacted: inputs are checked first
    expected = make(s3, prefix, spec)
    run = Run(s3, tmp_path, spec)
    proc = run.run(records=4, timeout=120)
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert expected in proc.stderr, proc.stderr[-3000:]
    term = json.loads(run.termination.read_text())
    assert term["state"] == "failed" and expected in term["message"]
    assert not [k for k in run.shard_keys() if k.startswith("part-") or k == "checkpoint.json"]


# --------------------------------------------------------------------------------------------
# the in-process vLLM engine
# --------------------------------------------------------------------------------------------


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.mark.slow
def test_vllm_engine_in_process(s3: S3, tmp_path: Path, prefix: str, tiny_model: Path, metrics_port: int) -> None:
    spec = base_spec(s3, prefix, "http://unused", model=str(tiny_model), maxModelLen=1024, dtype="bfloat16",
                     batchSize=8, engine={"type": "vllm"},
                     strategies=[{"name": "selfInstruct", "options": SHORT}, {"name": "persona", "options": SHORT}])
    spec["task"]["outputSchema"] = OUTPUT_SCHEMA
    spec["filters"] = [{"type": "judge", "minScore": 3}]  # scored by the same in-process model
    run = Run(s3, tmp_path, spec)
    vllm_log = tmp_path / "vllm.log"  # vLLM logs to stdout
    with vllm_log.open("wb") as out:
        proc = subprocess.Popen(run.argv(12), env=run.env({"DATAFOUNDRY_METRICS_PORT": str(metrics_port)}),
                                stdout=out, stderr=subprocess.PIPE, text=True)
    scraped = ""
    loading_seen = False
    try:
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as resp:
                    text = resp.read().decode()
                loading_seen = loading_seen or "datafoundry_generator_model_loading 1.0" in text
                if re.search(r"^datafoundry_generator_chunks_total [1-9]", text, re.MULTILINE):
                    scraped = text
            except OSError:
                pass
            time.sleep(0.2)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-4000:]
    records = run.records()
    assert len(records) == 12, run.done()
    assert sorted(run.parts()) == ["part-00000.jsonl", "part-00001.jsonl"]
    for r in records:
        jsonschema.validate(content(r), OUTPUT_SCHEMA)
        assert r["meta"]["model"] == str(tiny_model)
        assert r["meta"]["judge"]["model"] == str(tiny_model)
        assert r["meta"]["judge"]["score"] in range(11)
    done = run.done()
    assert done["generated"] == 12 and done["completionTokens"] > 0
    assert scraped, "metrics were never scraped after the first chunk"
    assert "datafoundry_generator_completion_tokens_total" in scraped
    assert 'datafoundry_generator_records_total{strategy="selfInstruct"}' in scraped
    assert "datafoundry_generator_batch_size_bucket" in scraped
    assert "datafoundry_generator_requests_in_flight" in scraped
    # The model-loading signal (DataFoundryGenerationThroughputZero stays quiet meanwhile): 1 while vLLM
    # loaded the model, 0 once it generated.
    assert loading_seen, "datafoundry_generator_model_loading was never 1 while the model loaded"
    assert "datafoundry_generator_model_loading 0.0" in scraped
    # enforceEager unset on a CPU: no torch.compile (a minute at every start).
    assert "enforce_eager=True" in vllm_log.read_text(errors="replace")


# --------------------------------------------------------------------------------------------
# Magpie: SmolLM2 writes the user's query in a user turn left open, then answers it
# --------------------------------------------------------------------------------------------

MAGPIE_SYSTEM = "You are an AI assistant that helps users with Kubernetes cluster operations."
#: SmolLM2's chat template up to where the user's message starts, with the system turn written in.
SMOLLM2_PRE_QUERY = f"<|im_start|>system\n{MAGPIE_SYSTEM}<|im_end|>\n<|im_start|>user\n"
MAGPIE_DROPS = {"magpie_empty", "magpie_too_short", "magpie_not_a_request", "refusal", "empty_answer"}


def magpie_spec(s3: S3, prefix: str, **generator: Any) -> dict[str, Any]:
    """Magpie's own rules only: a 135M model's answers often run past a CPU test's token budget, which the
    generator's screens (off here) would drop as truncated."""
    spec = base_spec(s3, prefix, "http://unused", **{
        "model": "SmolLM2-135M-Instruct", "sampling": {"maxTokens": 160, "temperature": 1.0, "topP": 1.0},
        **generator})
    spec["task"].pop("seeds")  # Magpie needs none
    return spec


def check_magpie_records(run: Run, prompts: int, template: str) -> list[dict[str, Any]]:
    """Real user queries (distinct, free of template markers) each answered, every drop named."""
    records, done = run.records(), run.done()
    counts = dict(done["strategies"]["magpie"])
    assert counts.pop("prompts") == prompts and counts.pop("records", 0) == len(records), done
    assert len(records) >= prompts // 3, done
    assert set(counts) <= MAGPIE_DROPS and sum(counts.values()) == prompts - len(records), done
    instructions = [r["instruction"] for r in records]
    assert len(set(instructions)) == len(instructions)
    for r in records:
        nonempty_strings(r, "instruction", "response")
        assert len(r["instruction"].split()) >= 3
        assert not re.search(r"<\|im_(start|end)\|>|\b(system|user|assistant)\n", r["instruction"]), r
        assert r["meta"]["strategy"] == "magpie" and r["meta"]["source"]["template"] == template
    return records


def test_magpie_on_smollm2_through_an_openai_server_writes_real_queries(
        s3: S3, tmp_path: Path, prefix: str, smollm2_server: VLLMServer) -> None:
    spec = magpie_spec(s3, prefix, engine={"type": "openai", "endpoint": smollm2_server.base_url, "maxConcurrency": 4},
                       strategies=[{"name": "magpie", "options": {"preQueryTemplate": SMOLLM2_PRE_QUERY}}])
    run = Run(s3, tmp_path, spec)
    ok(run.run(records=12))
    records = check_magpie_records(run, 12, "preQueryTemplate")
    # questions about the system turn's domain, as Magpie steers it: most mention a cluster's things
    words = re.compile(r"kubernetes|cluster|pod|deploy|container|docker|node|service|helm|k8s", re.IGNORECASE)
    assert sum(bool(words.search(r["instruction"])) for r in records) >= len(records) // 2, records


#: SmolLM2's chat template up to the user's turn, after mix.replay.generate's default (general) system turn.
SMOLLM2_GENERAL_PRE_QUERY = ("<|im_start|>system\nYou are a helpful AI assistant. Users write to you in the language "
                             "with BCP 47 tag 'en'.<|im_end|>\n<|im_start|>user\n")


def test_generated_replay_on_smollm2_asks_as_a_general_user_beside_the_domain_s_magpie(
        s3: S3, tmp_path: Path, prefix: str, smollm2_server: VLLMServer) -> None:
    """One batch holds both strategies' open user turns, each with its own pre-query template: the domain's
    magpie asks about clusters, the replay asks what a general assistant is asked."""
    spec = magpie_spec(s3, prefix, engine={"type": "openai", "endpoint": smollm2_server.base_url, "maxConcurrency": 4},
                       strategies=[{"name": "magpie", "options": {"preQueryTemplate": SMOLLM2_PRE_QUERY}}])
    spec["mix"] = {"replay": {"generate": {"preQueryTemplate": SMOLLM2_GENERAL_PRE_QUERY}, "ratio": 0.5}}
    run = Run(s3, tmp_path, spec)
    ok(run.run(records=16))
    records, done = run.records(), run.done()
    assert done["strategies"]["magpie"]["prompts"] == done["strategies"]["replaySelf"]["prompts"] == 8, done
    by = {name: [r for r in records if r["meta"]["strategy"] == name] for name in ("magpie", "replaySelf")}
    assert len(by["replaySelf"]) >= 3 and len(by["magpie"]) >= 3, done
    for r in by["replaySelf"]:
        nonempty_strings(r, "instruction", "response")
        assert r["meta"]["source"] == {"template": "preQueryTemplate",
                                       "preQueryTemplate": short_hash(SMOLLM2_GENERAL_PRE_QUERY)}
    words = re.compile(r"kubernetes|cluster|pod|deploy|container|docker|node|service|helm|k8s", re.IGNORECASE)
    domain = {name: sum(bool(words.search(r["instruction"])) / len(rs) for r in rs) for name, rs in by.items()}
    assert domain["replaySelf"] < domain["magpie"], by


@pytest.mark.slow
def test_magpie_on_smollm2_in_process_renders_the_open_user_turn(s3: S3, tmp_path: Path, prefix: str,
                                                                 smollm2_model: Path) -> None:
    spec = magpie_spec(s3, prefix, model=str(smollm2_model), maxModelLen=2048, engine={"type": "vllm"},
                       strategies=[{"name": "magpie", "options": {"systemPrompt": MAGPIE_SYSTEM}}])
    run = Run(s3, tmp_path, spec)
    ok(run.run(records=12, timeout=900))
    check_magpie_records(run, 12, "vllm")
