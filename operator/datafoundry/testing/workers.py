"""The worker pod entry points (`datafoundry worker <stage>`) run on one job's plan, against any
object store the workers can write: the test bed's S3 or a `file://` folder.

A `WorkerJob` owns a root URI; its inputs go under it and its output is `<root>/out`. Everything a
worker reads or writes goes through `datafoundry.storage`, so the same test runs on either store. On
S3 each worker is a subprocess, as in a pod; on a `file://` store it runs in this process through the
same command line (`datafoundry.cli.main`), which saves the interpreter start and imports per run.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock

from datafoundry.api.stages import Stage
from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import ENV_TERMINATION_LOG, Progress
from datafoundry.pipeline.plan import JobRef, Plan, build_plan
from datafoundry.storage import ObjectStore, open_store
from datafoundry.storage.base import split_uri
from datafoundry.testing.testbed import S3

DATAFOUNDRY = str(Path(sys.executable).with_name("datafoundry"))


class WorkerJob:
    """One job: its plan file, its input objects and its output store (`<root>/out`)."""

    def __init__(self, root: str, tmp: Path, env: Mapping[str, str], credentials: dict[str, Any] | None = None,
                 in_process: bool = False) -> None:
        self.root = root.rstrip("/")
        self.tmp = tmp
        self.env = dict(env)
        self.credentials = credentials
        self.in_process = in_process
        self.uid = str(uuid.uuid4())
        self.inputs: ObjectStore = open_store(self.root, self.env)

    @classmethod
    def on_s3(cls, s3: S3, tmp: Path) -> WorkerJob:
        """A job under a fresh prefix of the test bed's bucket, with its S3 identity in the environment."""
        env = {**os.environ, **{k: v for k, v in s3.env.items() if k.startswith("AWS_")}}
        return cls(f"s3://{s3.bucket}/tests/workers-{uuid.uuid4().hex[:8]}", tmp, env,
                   credentials={"secretRef": {"name": "s3"}})

    @classmethod
    def on_files(cls, tmp: Path) -> WorkerJob:
        """A job in a `file://` folder under `tmp`, its workers run in this process: no S3, no cluster."""
        return cls(f"file://{tmp / 'store'}", tmp, os.environ, in_process=True)

    @property
    def prefix(self) -> str:
        """The root's key prefix inside its bucket (S3) or its folder (file://)."""
        return split_uri(self.root)[2]

    def setup(self, spec: dict[str, Any]) -> WorkerJob:
        """Write the plan of `spec` (output under this job's root) and open the output store."""
        output: dict[str, Any] = {"uri": self.uri("out")}
        if self.credentials is not None:
            output["credentials"] = self.credentials
        spec["output"] = {**output, **spec.get("output", {})}
        self.spec = spec
        self.plan: Plan = build_plan(JobRef(name="wk", namespace="t", uid=self.uid, generation=2), spec)
        self.plan_path = self.tmp / f"plan-{self.uid[:8]}.json"
        self.plan_path.write_text(self.plan.to_json())
        self.store: ObjectStore = open_store(spec["output"]["uri"], self.env)
        return self

    def uri(self, key: str) -> str:
        return f"{self.root}/{key}"

    def put(self, key: str, data: bytes) -> str:
        self.inputs.put(key, data)
        return self.uri(key)

    def stage_gen(self, round_: int, shard: int, parts: list[list[dict[str, Any]] | bytes]) -> None:
        """Stage generated parts of one shard as the generate worker would, and its done marker."""
        n = 0
        for i, part in enumerate(parts):
            data = part if isinstance(part, bytes) else "".join(json.dumps(r) + "\n" for r in part).encode()
            n += len(part) if not isinstance(part, bytes) else data.count(b"\n")
            self.store.put(layout.part_key(self.uid, Stage.GENERATE, round_, shard, i), data)
        done = Progress(stage=Stage.GENERATE, round=round_, shard=shard, state="done", generated=n,
                        prompt_tokens=10 * n, completion_tokens=100 * n)
        self.store.put(layout.done_key(self.uid, Stage.GENERATE, round_, shard), done.to_json().encode())

    def worker(self, stage: str, round_: int = 0, shard: int | None = None, *extra: str,
               wrap: tuple[str, ...] = (), env: dict[str, str] | None = None) -> tuple[int, Progress | None, str]:
        """Run one worker (`extra` args appended, `wrap` prepended to the command line): its exit code,
        the Progress of its termination message and its stderr."""
        term = self.tmp / f"term-{stage}-{round_}-{shard}-{uuid.uuid4().hex[:6]}"
        argv = ["worker", stage, "--plan", str(self.plan_path), "--round", str(round_), *extra]
        if shard is not None:
            argv += ["--shard", str(shard)]
        run_env = {**self.env, **(env or {}), ENV_TERMINATION_LOG: str(term)}
        if self.in_process and not wrap:
            rc, stderr = _run_in_process(argv, run_env)
        else:
            proc = subprocess.run([*wrap, DATAFOUNDRY, *argv], env=run_env, capture_output=True, text=True,
                                  timeout=300)
            rc, stderr = proc.returncode, proc.stderr
        progress = Progress.model_validate_json(term.read_text()) if term.exists() else None
        return rc, progress, stderr

    def ok(self, stage: str, round_: int = 0, shard: int | None = None, *extra: str) -> Progress:
        """Run one worker that must succeed; its final Progress."""
        rc, progress, stderr = self.worker(stage, round_, shard, *extra)
        assert rc == 0, f"{stage} exited {rc}:\n{stderr[-4000:]}"
        assert progress is not None and progress.state == "done"
        return progress

    def objects(self, prefix: str) -> dict[str, bytes]:
        return {k: self.store.get(k) or b"" for k in self.store.list(prefix)}

    def published(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The manifest and every record of the published shards, each shard checked against it."""
        manifest = json.loads(self.store.get(layout.MANIFEST) or b"null")
        records: list[dict[str, Any]] = []
        for shard in manifest["shards"]:
            data = self.store.get(shard["key"]) or b""
            assert hashlib.sha256(data).hexdigest() == shard["sha256"]
            assert len(data) == shard["bytes"]
            if shard["key"].endswith(".parquet"):
                import pyarrow.parquet as pq

                rows = pq.read_table(io.BytesIO(data)).to_pylist()
            else:
                if shard["key"].endswith(".zst"):
                    import zstandard

                    data = zstandard.ZstdDecompressor().decompress(data)
                rows = [json.loads(line) for line in data.decode().splitlines()]
            assert len(rows) == shard["records"]
            records += rows
        return manifest, records

    def download(self, dest: Path) -> list[str]:
        """The published data files copied under `dest`; their paths."""
        files = []
        for key in self.store.list("data/"):
            path = dest / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.store.get(key) or b"")
            files.append(str(path))
        return files


def _run_in_process(argv: list[str], env: Mapping[str, str]) -> tuple[int, str]:
    """`datafoundry <argv>` in this process with exactly `env` as its environment: exit code and log."""
    from datafoundry import cli

    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger().addHandler(handler)
    try:
        with mock.patch.dict(os.environ, env, clear=True), contextlib.redirect_stderr(log):
            try:
                rc = cli.main(argv)
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 1
    finally:
        logging.getLogger().removeHandler(handler)
    return rc, log.getvalue()


def gen_spec(**extra: Any) -> dict[str, Any]:
    """A generation job's spec without its output: 1000 records from two shards, English, seed 7."""
    spec: dict[str, Any] = {
        "task": {"domain": "operations of a small logistics company", "language": "en",
                 "seeds": {"inline": [{"instruction": "q", "response": "a"}]}},
        "target": {"records": 1000},
        "generator": {"model": "org/tiny", "shards": 2},
        "seed": 7,
    }
    spec.update(extra)
    return spec


def all_filters(eval_uri: str) -> list[dict[str, Any]]:
    """Every content filter, decontamination against the eval set at `eval_uri`."""
    return [
        {"type": "length", "minChars": 40},
        {"type": "language"},
        {"type": "quality"},
        {"type": "pii", "kinds": ["email", "phone", "creditCard", "ipAddress", "url"]},
        {"type": "decontamination", "evalSets": [eval_uri]},
        {"type": "exactDedup"},
        {"type": "minhash", "threshold": 0.8, "numPerm": 128, "bands": 16},
    ]
