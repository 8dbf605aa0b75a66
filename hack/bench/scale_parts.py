"""Parts of the operator scale benchmark (hack/bench/scale.py): a raw-JSON API client with
list+watch, the test-only workers that stand in for the worker containers on kwok nodes, the
observer that measures status lag, and audit-log and profile summaries.

The workers do what the worker contract (datafoundry.pipeline.contract) asks of a pod, cheaply:
when kwok reports a worker pod Running, they write the shard's progress object; after the
simulated work they write its `_DONE.json` (the manifest for publish) and hand the final
`Progress` to the pod as the `kwok.datafoundry.io/termination-message` annotation. kwok's
`pod-complete-reported` stage (hack/local-up.sh) then completes the pod with that termination
message, which is where the operator reads a shard's final counts.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import multiprocessing as mp
import os
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from datafoundry.api.keys import LABEL_JOB_NAME, LABEL_JOB_UID, LABEL_ROUND, LABEL_SHARD, LABEL_STAGE
from datafoundry.api.meta import API_VERSION, GROUP
from datafoundry.api.stages import Stage
from datafoundry.pipeline import layout
from datafoundry.pipeline.contract import Progress
from datafoundry.pipeline.plan import first_round_records, shard_share
from datafoundry.storage.s3 import S3Store

GROUP_PATH = f"/apis/{API_VERSION}"
MESSAGE_ANNOTATION = f"kwok.{GROUP}/termination-message"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
# The contract worker's filter keeps 4 of every 5 records; so do these.
REJECT_EVERY = 5


class Api:
    """Admin access from a kubeconfig with client certificates, JSON in and out (no model objects:
    decoding thousands of pods into kubernetes-client classes would cost more than the cluster)."""

    def __init__(self, kubeconfig: Path) -> None:
        cfg = yaml.safe_load(kubeconfig.read_text())
        cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
        self.server = cluster["server"]
        self.verify = cluster["certificate-authority"]
        self.cert = (user["client-certificate"], user["client-key"])
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        s: requests.Session | None = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            s.verify, s.cert = self.verify, self.cert
            s.trust_env = False  # REQUESTS_CA_BUNDLE would replace the cluster's CA
            self._local.session = s
        return s

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.session.request(method, self.server + path, timeout=60, **kwargs)
        r.raise_for_status()
        return r.json()

    def watch(self, path: str, params: dict[str, str], on_event: Callable[[str, dict[str, Any]], None],
              stop: threading.Event | Any) -> None:
        """List, then watch from the list's resourceVersion; re-list when it expires. Runs until `stop`."""
        rv: str | None = None
        while not stop.is_set():
            try:
                if rv is None:
                    listed = self.request("GET", path, params=params)
                    for item in listed["items"]:
                        on_event("ADDED", item)
                    rv = listed["metadata"]["resourceVersion"]
                watch_params = {**params, "watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                                "timeoutSeconds": "30"}
                with self.session.get(self.server + path, params=watch_params, stream=True, timeout=(5, 60)) as r:
                    r.raise_for_status()
                    for line in r.iter_lines(chunk_size=65536):
                        if not line:
                            continue
                        event = json.loads(line)
                        if event["type"] == "ERROR":
                            rv = None  # 410 Gone: the resourceVersion is too old
                            break
                        rv = event["object"]["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            on_event(event["type"], event["object"])
                        if stop.is_set():
                            return
            except (requests.RequestException, ValueError):
                time.sleep(0.5)


# ---------------------------------------------------------------------------------------------
# Test-only workers


@dataclass(order=True)
class _Task:
    due: float
    pod: str = field(compare=False)
    namespace: str = field(compare=False)
    uid: str = field(compare=False)
    job: str = field(compare=False)
    stage: str = field(compare=False)
    round: int = field(compare=False)
    shard: int = field(compare=False)
    records: int = field(compare=False)


class Workers:
    """Stand-ins for the worker containers of every operator pod that kwok runs (see module doc)."""

    def __init__(self, api: Api, s3_env: dict[str, str], namespace: str, *, output_prefix: str, target: int,
                 shards: int, overgenerate: float, work_seconds: float, threads: int = 6) -> None:
        self.api, self.namespace = api, namespace
        self.store = S3Store(s3_env["S3_BUCKET"], "", env=s3_env)
        self.bucket = s3_env["S3_BUCKET"]
        self.output_prefix = output_prefix
        self.target, self.shards, self.overgenerate = target, shards, overgenerate
        self.work_seconds = work_seconds
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="worker")
        self.stop = threading.Event()
        self._heap: list[_Task] = []
        self._cv = threading.Condition()
        self._seen: set[str] = set()
        self._records: dict[tuple[str, int], int] = {}  # (job uid, round) -> records the round asked for
        self.reported = 0
        self.errors: list[str] = []

    def output_uri(self, job: str) -> str:
        return f"s3://{self.bucket}/{self.output_prefix}{job}"

    def start(self) -> Workers:
        params = {"labelSelector": LABEL_JOB_UID, "fieldSelector": "status.phase=Running"}
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        threading.Thread(target=self.api.watch, args=(path, params, self._on_pod, self.stop), daemon=True).start()
        threading.Thread(target=self._dispatch, daemon=True).start()
        return self

    def close(self) -> None:
        self.stop.set()
        with self._cv:
            self._cv.notify()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        if kind == "DELETED" or meta["uid"] in self._seen or MESSAGE_ANNOTATION in (meta.get("annotations") or {}):
            return
        self._seen.add(meta["uid"])
        labels, args = meta.get("labels") or {}, pod["spec"]["containers"][0].get("args") or []
        stage = labels[LABEL_STAGE]
        index = labels.get(LABEL_SHARD) or (meta.get("annotations") or {}).get(INDEX_ANNOTATION) or "0"
        records = int(args[args.index("--records") + 1]) if "--records" in args else 0
        # Generator shards take the full work time; the CPU stages half (they are cheaper in real life too).
        work = self.work_seconds * (1.0 if stage == "generate" else 0.5)
        task = _Task(due=time.monotonic() + work, pod=meta["name"], namespace=meta["namespace"],
                     uid=labels[LABEL_JOB_UID], job=labels[LABEL_JOB_NAME], stage=stage,
                     round=int(labels.get(LABEL_ROUND, "0")), shard=int(index), records=records)
        if stage == "generate":
            self._records[(task.uid, task.round)] = records
        if stage in ("generate", "filter"):
            self.pool.submit(self._guard, self._begin, task)
        with self._cv:
            heapq.heappush(self._heap, task)
            self._cv.notify()

    def _dispatch(self) -> None:
        while not self.stop.is_set():
            with self._cv:
                while not self._heap or self._heap[0].due > time.monotonic():
                    if self.stop.is_set():
                        return
                    self._cv.wait(timeout=(self._heap[0].due - time.monotonic()) if self._heap else 1.0)
                task = heapq.heappop(self._heap)
            self.pool.submit(self._guard, self._finish, task)

    def _guard(self, fn: Callable[[_Task], None], task: _Task) -> None:
        try:
            fn(task)
        except Exception as e:  # a failed report leaves the pod Running: the run would time out, so say why
            self.errors.append(f"{task.pod}: {type(e).__name__}: {e}")

    def _key(self, task: _Task, key: str) -> str:
        return f"{self.output_prefix}{task.job}/{key}"

    def _begin(self, task: _Task) -> None:
        p = Progress(stage=Stage(task.stage), round=task.round, shard=task.shard, state="running", chunks_total=1)
        self.store.put(self._key(task, layout.progress_key(task.uid, Stage(task.stage), task.round, task.shard)),
                       p.to_json().encode())

    def _generated(self, uid: str, round_: int, shard: int) -> int:
        asked = self._records.get((uid, round_)) or first_round_records(self.target, self.overgenerate)
        return shard_share(asked, self.shards, shard)

    def _accepted(self, generated: int) -> int:
        return generated - generated // REJECT_EVERY

    def _finish(self, task: _Task) -> None:
        if task.stage == "generate":
            n = shard_share(task.records, self.shards, task.shard)
            p = Progress(stage="generate", round=task.round, shard=task.shard, state="done", generated=n,
                         prompt_tokens=10 * n, completion_tokens=20 * n, chunks_done=1, chunks_total=1)
        elif task.stage == "filter":
            n = self._generated(task.uid, task.round, task.shard)
            kept = self._accepted(n)
            p = Progress(stage="filter", round=task.round, shard=task.shard, state="done", accepted=kept,
                         rejected={"length": n - kept}, chunks_done=1, chunks_total=1)
        else:
            generated = [self._generated(task.uid, task.round, k) for k in range(self.shards)]
            accepted = sum(self._accepted(n) for n in generated)
            if task.stage == "dedup":
                p = Progress(stage="dedup", round=task.round, shard=0, state="done", generated=sum(generated),
                             accepted=accepted, rejected={"length": sum(generated) - accepted},
                             prompt_tokens=10 * sum(generated), completion_tokens=20 * sum(generated))
            else:
                records = min(self.target, accepted)
                manifest = json.dumps({"records": records, "job": {"uid": task.uid}}).encode()
                self.store.put(self._key(task, layout.MANIFEST), manifest)
                p = Progress(stage="publish", round=task.round, shard=0, state="done", accepted=records,
                             bytes_written=100 * records, manifest_uri=f"{self.output_uri(task.job)}/manifest.json",
                             sha256="0" * 64)
        if task.stage != "publish":
            self.store.put(self._key(task, layout.done_key(task.uid, Stage(task.stage), task.round, task.shard)),
                           p.to_json().encode())
        patch = {"metadata": {"annotations": {MESSAGE_ANNOTATION: p.to_json()}}}
        self.api.request("PATCH", f"/api/v1/namespaces/{task.namespace}/pods/{task.pod}", data=json.dumps(patch),
                         headers={"Content-Type": "application/merge-patch+json"})
        self.reported += 1


# ---------------------------------------------------------------------------------------------
# Observer: lag from a child Job's completion to the DataFoundryJob's status reflecting it


def _reflected(stage: str, need: int, status: dict[str, Any]) -> bool:
    """Whether `status` shows the completion of a child Job of `stage` (`need`: the n-th filter Job)."""
    true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    if stage == "generate":
        return "Generated" in true
    if stage == "filter":
        return int(((status.get("shards") or {}).get("filter") or {}).get("succeeded") or 0) >= need
    if stage == "dedup":
        return "Filtered" in true
    return status.get("phase") == "Succeeded"


class Observer:
    """Runs in its own process (so the workers' Python does not delay what it sees): watches the
    child Jobs and the DataFoundryJobs, and records for every child Job that became Complete when
    the owner's status first reflected it. Sends a snapshot every second and the lags at the end."""

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.kubeconfig, self.namespace = kubeconfig, namespace
        self.queue: mp.Queue[dict[str, Any]] = mp.get_context("fork").Queue()
        self.stop = mp.get_context("fork").Event()
        self.proc = mp.get_context("fork").Process(target=self._main, daemon=True)
        self.latest: dict[str, Any] = {}

    def start(self) -> Observer:
        self.proc.start()
        return self

    def poll(self) -> dict[str, Any]:
        while True:
            try:
                self.latest = self.queue.get_nowait()
            except Exception:
                return self.latest

    def finish(self, timeout: float = 30) -> list[tuple[str, str, float, float]]:
        self.stop.set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.queue.get(timeout=timeout)
            if "lags" in msg:  # snapshots have no "lags"
                self.proc.join(timeout=5)
                return [tuple(x) for x in msg["lags"]]  # type: ignore[misc]
        raise TimeoutError("observer did not report")

    def _main(self) -> None:
        api = Api(self.kubeconfig)
        lock = threading.Lock()
        statuses: dict[str, dict[str, Any]] = {}
        pending: dict[str, list[tuple[str, int, float]]] = defaultdict(list)  # job -> (stage, need, t_complete)
        completed: set[str] = set()
        filters_done: Counter[str] = Counter()
        lags: list[tuple[str, str, float, float]] = []  # (job, stage, t_complete, t_reflected)

        def settle(job: str, now: float) -> None:
            status = statuses.get(job) or {}
            still = []
            for stage, need, t in pending[job]:
                if _reflected(stage, need, status):
                    lags.append((job, stage, t, max(t, now)))
                else:
                    still.append((stage, need, t))
            pending[job] = still

        def on_child(kind: str, obj: dict[str, Any]) -> None:
            now = time.monotonic()
            meta = obj["metadata"]
            conditions = (obj.get("status") or {}).get("conditions") or []
            if meta["uid"] in completed or not any(
                c.get("type") == "Complete" and c.get("status") == "True" for c in conditions
            ):
                return
            labels = meta.get("labels") or {}
            job, stage = labels.get(LABEL_JOB_NAME, ""), labels.get(LABEL_STAGE, "")
            with lock:
                completed.add(meta["uid"])
                need = 0
                if stage == "filter":
                    filters_done[job] += 1
                    need = filters_done[job]
                pending[job].append((stage, need, now))
                settle(job, now)

        def on_job(kind: str, obj: dict[str, Any]) -> None:
            now = time.monotonic()
            with lock:
                statuses[obj["metadata"]["name"]] = obj.get("status") or {}
                settle(obj["metadata"]["name"], now)

        ns = self.namespace
        threads = [
            threading.Thread(target=api.watch, daemon=True, args=(
                f"/apis/batch/v1/namespaces/{ns}/jobs", {"labelSelector": LABEL_JOB_UID}, on_child, self.stop)),
            threading.Thread(target=api.watch, daemon=True, args=(
                f"{GROUP_PATH}/namespaces/{ns}/datafoundryjobs", {}, on_job, self.stop)),
        ]
        for t in threads:
            t.start()
        while not self.stop.wait(1.0):
            with lock:
                phases = Counter(str(s.get("phase") or "") for s in statuses.values())
                waiting = [t for items in pending.values() for _, _, t in items]
                self.queue.put({"phases": dict(phases), "jobs": len(statuses), "pending": len(waiting),
                                "oldest_pending_s": round(time.monotonic() - min(waiting), 1) if waiting else 0.0,
                                "child_jobs_complete": len(completed)})
        with lock:
            self.queue.put({"lags": list(lags)})


# ---------------------------------------------------------------------------------------------
# Measurements


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds_of_group(pgid: int) -> float:
    """CPU seconds (user + system) of every live process in process group `pgid`."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU seconds all processes on this machine have used (user, nice, system, irq, softirq, steal)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = fields[0] + fields[1] + fields[2] + sum(fields[5:8])
    return busy / os.sysconf("SC_CLK_TCK")


def audit_requests(audit: Path, since: int, user: str, until: int | None = None) -> Counter[str]:
    """Requests by `user` in the audit log between byte offsets, by verb and resource ("patch pods")."""
    out: Counter[str] = Counter()
    with audit.open("rb") as f:
        f.seek(since)
        data = f.read((until - since) if until is not None else -1)
    for line in data.splitlines():
        if user.encode() not in line:
            continue
        event = json.loads(line)
        if event.get("user", {}).get("username") != user or event.get("stage") != "ResponseComplete":
            continue
        ref = event.get("objectRef") or {}
        resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        out[f"{event['verb']} {resource}".strip()] += 1
    return out


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def profile_summary(raw: Path, top: int = 25) -> dict[str, Any]:
    """Inclusive and self share of samples per function from py-spy's `--format raw` output."""
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = []
        for frame in stack.split(";"):
            m = _FRAME.match(frame)
            name = f"{m['func']} ({_short(m['file'])})" if m else frame
            frames.append(name)
        for name in set(frames[1:]):  # frames[0] is the thread
            inclusive[name] += count
        if len(frames) > 1:
            self_time[frames[-1]] += count

    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in c.most_common(top)] if total else []

    return {"samples": total, "inclusive_percent": share(inclusive), "self_percent": share(self_time)}


def _short(path: str) -> str:
    for marker in ("site-packages/", "operator/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def by_prefix(counts: Iterable[tuple[str, int]], per: float) -> dict[str, float]:
    return {k: round(v / per, 2) for k, v in sorted(counts)}
