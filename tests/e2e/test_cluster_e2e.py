"""`kubectl apply` to a published dataset: the operator, the real Job controller and the REAL
workers (run by the test pod runner as local processes, exactly with the pods' args and env)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from datafoundry.local.runner import add_pre_query_templates
from datafoundry.report import build as quality_report
from datafoundry.testing.podrunner import PodRunner
from datafoundry.testing.running_operator import S3_SECRET, Operator
from datafoundry.testing.testbed import REPO, S3, Kube
from fixtures.prometheus import PrometheusError

pytestmark = pytest.mark.integration

TOPICS = ["scheduling", "rollouts", "probes", "limits", "draining", "certificates", "statefulsets", "quotas"]


def put_corpus(s3: S3, key: str, n: int) -> None:
    lines = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        lines.append(json.dumps({"id": f"r{i}", "text": (
            f"Case {i}: when {topic} misbehaves in cluster {i}, read the events of the object first, then the "
            f"controller logs, and compare the live spec with the applied one before changing anything ({i}).")}))
    lines += [lines[5], lines[6]]  # exact duplicates, in another position
    s3.client.put_object(Bucket=s3.bucket, Key=key, Body=("\n".join(lines) + "\n").encode())


def wait_condition(kube: Kube, ns: str, name: str, condition: str, op: Operator, timeout: int = 300) -> None:
    # `kubectl wait` would sit out its whole timeout on a job that already failed: watch for that first.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and status(kube, ns, name).get("phase") not in ("Succeeded", "Failed"):
        time.sleep(0.5)
    proc = kube.kubectl("wait", f"--for=condition={condition}", f"dfj/{name}", "-n", ns, f"--timeout={timeout}s",
                        check=False, timeout=timeout + 30)
    assert proc.returncode == 0, f"{proc.stderr}\nstatus: {status(kube, ns, name)}\noperator:\n{op.log_tail()}"


def status(kube: Kube, ns: str, name: str) -> dict[str, Any]:
    out = kube.kubectl("get", "dfj", name, "-n", ns, "-o", "json").stdout
    return json.loads(out).get("status") or {}  # type: ignore[no-any-return]


def test_curation_job_applied_with_kubectl_ends_published_with_matching_manifest(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, real_pod_runner: PodRunner
) -> None:
    ns = job_namespace
    put_corpus(s3, f"{s3_prefix}in/a.jsonl", 30)
    put_corpus(s3, f"{s3_prefix}in/b.jsonl", 30)  # a whole second copy: all near/exact duplicates
    doc = {
        "apiVersion": "datafoundry.io/v1alpha1", "kind": "DataFoundryJob", "metadata": {"name": "curate"},
        "spec": {
            "target": {"records": 25},
            "input": {"uris": [f"s3://{s3.bucket}/{s3_prefix}in/"], "format": "jsonl", "shards": 2},
            "filters": [{"type": "length", "minChars": 50}, {"type": "exactDedup"}, {"type": "minhash"}],
            "output": {"uri": f"s3://{s3.bucket}/{s3_prefix}out", "endpointURL": s3.endpoint_url,
                       "credentials": {"secretRef": {"name": S3_SECRET}}},
        },
    }
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc))
    seen: set[str] = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        phase = status(kube, ns, "curate").get("phase")
        if phase:
            seen.add(phase)
        if phase in ("Succeeded", "Failed"):
            break
        time.sleep(0.3)
    wait_condition(kube, ns, "curate", "Succeeded", operator)
    st = status(kube, ns, "curate")
    manifest = json.loads(s3.client.get_object(Bucket=s3.bucket, Key=f"{s3_prefix}out/manifest.json")["Body"].read())
    assert manifest["records"] == st["output"]["records"] == 25
    published = []
    for shard in manifest["shards"]:
        body = s3.client.get_object(Bucket=s3.bucket, Key=f"{s3_prefix}out/{shard['key']}")["Body"].read()
        published += [json.loads(line) for line in body.decode().splitlines()]
    assert len(published) == 25 and len({r["id"] for r in published}) == 25
    assert st["progress"]["generated"] == 64  # every input record was read
    assert sum(st["progress"]["rejected"].values()) >= 34  # the second copy and the duplicates are gone
    assert "Filtering" in seen or "Publishing" in seen, f"progress should be visible while running: {seen}"


@pytest.mark.vllm
@pytest.mark.prometheus
def test_generation_job_with_the_shared_vllm_server_scraped_by_prometheus(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, real_pod_runner: PodRunner,
    vllm_server: Any, prometheus: Any,
) -> None:
    ns = job_namespace
    # What the chart's ServiceMonitor and PodMonitor do in a cluster: scrape the operator and each worker.
    prometheus.add_target("datafoundry-operator", operator.metrics_url.split("/")[2], honor_labels=True)

    lock = threading.Lock()  # the pod runner starts processes from several threads

    def scrape_worker(run: Any) -> None:
        if run.metrics_port is not None and "-gen-" in run.pod:
            with lock:
                # 2s: a worker answers a scrape on a machine the vLLM server keeps busy; 1s timed out in CI.
                prometheus.add_target("datafoundry-worker", f"127.0.0.1:{run.metrics_port}", wait_up=False,
                                      interval="2s")

    real_pod_runner.on_start = scrape_worker
    # A worker may finish between two scrapes: it waits (at most this long) for one after its last count
    # that Prometheus received within its scrape timeout (a slow scrape Prometheus gave up on does not count).
    real_pod_runner.extra_env["DATAFOUNDRY_METRICS_LINGER_SECONDS"] = "60"
    doc = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    doc["metadata"]["name"] = "gen"
    spec = doc["spec"]
    spec["target"] = {"records": 10, "overgenerate": 1.5}
    spec["generator"] = {"model": vllm_server.model, "shards": 2, "gpusPerShard": 0, "batchSize": 4,
                         "sampling": {"maxTokens": 160, "seed": 3},
                         "engine": {"type": "openai", "endpoint": vllm_server.base_url, "maxConcurrency": 8},
                         "screens": {"enabled": False}}  # the tiny random model: mechanics, not content
    spec["filters"] = [{"type": "exactDedup"}]
    spec["output"] = {"uri": f"s3://{s3.bucket}/{s3_prefix}gen", "endpointURL": s3.endpoint_url,
                      "credentials": {"secretRef": {"name": S3_SECRET}}}
    del spec["mix"], spec["evaluation"]  # the random model's replay and its fine-tuning say nothing
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc))
    wait_condition(kube, ns, "gen", "Succeeded", operator, timeout=600)
    st = status(kube, ns, "gen")
    manifest = json.loads(s3.client.get_object(Bucket=s3.bucket, Key=f"{s3_prefix}gen/manifest.json")["Body"].read())
    assert manifest["records"] == st["output"]["records"]
    assert st["progress"]["completionTokens"] > 0 and st["progress"]["generated"] >= 10
    # The workers' own metrics reached Prometheus while they ran, and agree with the status.
    tokens_query = 'sum(max_over_time(datafoundry_generator_completion_tokens_total{job="datafoundry-worker"}[30m]))'
    try:
        worker_tokens = prometheus.wait_for(tokens_query, 30)
    except PrometheusError as e:
        scrapes = prometheus.query('count_over_time(up{job="datafoundry-worker"}[30m])')
        up = prometheus.query('sum_over_time(up{job="datafoundry-worker"}[30m])')
        targets = [(t["labels"].get("instance"), t.get("health"), t.get("lastError"))
                   for t in prometheus.targets() if t["labels"].get("job") == "datafoundry-worker"]
        pytest.fail(f"{e}: scrapes {scrapes}, successful {up}, targets {targets}, "
                    f"workers {[(r.pod, r.metrics_port, r.exit_code) for r in real_pod_runner.runs]}")
    assert float(worker_tokens[0]["value"][1]) > 0
    # The final totals do not depend on catching a short-lived worker: the operator's per-job series carry
    # them from the status (the workers' termination messages), and stay after the job finished.
    tokens = st["progress"]["completionTokens"]
    gen = f'namespace="{ns}",name="gen"'
    assert prometheus.wait_for(f'datafoundry_job_tokens{{{gen},kind="completion"}} == {tokens}', 60)
    accepted = prometheus.wait_for(f'datafoundry_job_records{{namespace="{ns}",name="gen",result="accepted"}}', 60)
    assert float(accepted[0]["value"][1]) == st["progress"]["accepted"]
    assert prometheus.wait_for(f'datafoundry_job_phase{{namespace="{ns}",name="gen",phase="Succeeded"}} == 1', 60)
    # the quality report's headline indicators, as the operator exports them from the status
    distinct2 = prometheus.wait_for(
        f'datafoundry_job_output_quality{{namespace="{ns}",name="gen",indicator="distinct2"}}', 60)
    assert float(distinct2[0]["value"][1]) == st["output"]["quality"]["distinct2"]


# --------------------------------------------------------------------------------------------
# every example in examples/, applied with kubectl
# --------------------------------------------------------------------------------------------

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
EXAMPLE_BUCKET = "datafoundry"  # the bucket the examples name; the test bed's default bucket
EXAMPLE_TARGET = 6
RUNBOOK = ("Runbook {i}: when the {svc} service pages for high latency, check the dashboard, drain the "
           "unhealthy node with kubectl drain, and roll back the last deployment if errors rose after it ({i}).")


def example_inputs(i: int) -> dict[str, list[dict[str, Any]]]:
    """Small stand-ins for the data the examples name in s3://datafoundry/ (by key under it)."""
    svc = ["billing", "search", "checkout", "auth"]
    return {
        "raw/support-logs/part-0.jsonl": [
            {"id": f"log{j}", "text": f"Ticket {j}: customer reports that the {svc[j % 4]} page times out after "
                                      f"login; reach them at user{j}@example.com. Engineer restarted the pods and "
                                      f"the issue resolved within {j + 3} minutes (case {j})."}
            for j in range(40)],
        "replay/general-chat/part-0.jsonl": [
            {"id": f"replay{j}", "messages": [{"role": "user", "content": f"What is {j} plus {j}?"},
                                              {"role": "assistant", "content": f"{j} plus {j} is {2 * j}."}]}
            for j in range(40)],
        "corpora/runbooks/part-0.jsonl": [{"id": f"rb{j}", "text": RUNBOOK.format(i=j, svc=svc[j % 4])}
                                          for j in range(12)],
        "evals/runbook-qa-test.jsonl": [{"id": "q1", "question": "What does the on-call engineer check first?",
                                         "answer": "the dashboard"}],
    }


def adapt_example(doc: dict[str, Any], s3: S3, prefix: str, server: Any) -> dict[str, Any]:
    """The example as written, pointed at the test bed: its S3 data under this test's prefix, the
    shared SmolLM2-135M-Instruct vLLM server as an OpenAI endpoint, and a small target. Every filter,
    strategy, screen, output format and mix setting is kept; only the strategies' costliest options
    shrink (preference samples, dialogue turns) to fit two CPU cores."""
    text = yaml.safe_dump(doc).replace(f"s3://{EXAMPLE_BUCKET}/", f"s3://{s3.bucket}/{prefix}")
    doc = yaml.safe_load(text)
    spec = doc["spec"]
    # A small target; a 135M model's yield after the filters varies, so more first-round prompts and rounds.
    spec["target"].update({"records": EXAMPLE_TARGET, "overgenerate": 3.0})
    spec["budget"] = {**spec.get("budget", {}), "maxRounds": 4}
    spec["output"]["endpointURL"] = s3.endpoint_url
    spec["output"]["credentials"] = {"secretRef": {"name": S3_SECRET}}
    if "input" in spec:
        spec["input"]["shards"] = 2
    gen = spec.get("generator")
    if gen is not None:
        engine = gen.get("engine") or {}
        gen.update({"model": server.model, "shards": min(gen.get("shards", 1), 2), "gpusPerShard": 0,
                    "batchSize": 8, "sampling": {**gen.get("sampling", {}), "maxTokens": 384, "seed": 5}})
        gen["engine"] = {**engine, "type": "openai", "endpoint": server.base_url, "maxConcurrency": 16}
        for strategy in gen.get("strategies") or ():
            options = strategy.get("options", {})
            if strategy["name"] == "preferencePairs":
                # The 135M judge scores most answers of a prompt alike (42 of 48 pairs were under the example's
                # margin of 2, written for a 70B judge): any ranked pair of two different answers is kept here.
                # The fewest samples (2): each costs an answer and a judge call on two CPU cores.
                strategy["options"] = {**options, "minMargin": 0, "samples": 2}
            elif strategy["name"] == "multiTurn":
                strategy["options"] = {**options, "turns": 2}  # 2 calls a turn; 2 turns show the threading
    if gen is not None:  # what `datafoundry run` does: the server cannot leave a user turn open
        add_pre_query_templates(spec, server.model_dir)
    forgetting = (spec.get("evaluation") or {}).get("forgetting")
    if forgetting is not None:
        # The evaluate pod fine-tunes the served model's files (an endpoint's model cannot be), for a few
        # steps on the few records of the small target.
        forgetting.update({"model": str(server.model_dir), "steps": 2, "batchSize": 2, "maxTokens": 128,
                           "heldOutRecords": 1, "sampleRecords": 4})
    return doc


def quality_report_forgetting(guard: dict[str, Any]) -> dict[str, Any]:
    """The guard's numbers worth a line in the test log."""
    return {"before": guard["before"], **{run: {k: guard[run][k] for k in ("domainGainPct", "generalLossIncreasePct")}
                                         for run in ("mix", "domainOnly") if run in guard}}


def put_example_inputs(s3: S3, prefix: str) -> None:
    for key, rows in example_inputs(0).items():
        s3.client.put_object(Bucket=s3.bucket, Key=f"{prefix}{key}",
                             Body="".join(json.dumps(r) + "\n" for r in rows).encode())


@pytest.mark.vllm
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_applied_with_kubectl_succeeds_with_manifest_matching_status(
    path: Path, kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator,
    real_pod_runner: PodRunner, smollm2_server: Any,
) -> None:
    ns = job_namespace
    put_example_inputs(s3, s3_prefix)
    doc = adapt_example(yaml.safe_load(path.read_text()), s3, s3_prefix, smollm2_server)
    name = doc["metadata"]["name"]
    key_ref = ((doc["spec"].get("generator") or {}).get("engine") or {}).get("apiKeySecretRef")
    if key_ref:  # the preference example reads its gateway key from a Secret (vLLM ignores it)
        kube.kubectl("create", "secret", "generic", key_ref["name"], "-n", ns,
                     f"--from-literal={key_ref['key']}=not-checked-by-the-test-server", check=False)
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc))
    progress: list[str] = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        row = kube.kubectl("get", "dfj", name, "-n", ns, "--no-headers", check=False).stdout.split()
        # NAME PHASE PROGRESS ACCEPTED TARGET AGE; before the first status the middle ones are blank.
        if len(row) >= 6 and (not progress or progress[-1] != " ".join(row[1:4])):
            progress.append(" ".join(row[1:4]))
        if row and row[1] in ("Succeeded", "Failed"):
            break
        time.sleep(0.5)
    wait_condition(kube, ns, name, "Succeeded", operator, timeout=60)
    st = status(kube, ns, name)
    out_prefix = doc["spec"]["output"]["uri"].split("/", 3)[3].rstrip("/")
    manifest = json.loads(s3.client.get_object(Bucket=s3.bucket, Key=f"{out_prefix}/manifest.json")["Body"].read())
    print(f"{path.stem} funnel: {json.dumps(manifest['funnel'], sort_keys=True)}")
    print(f"{path.stem} generation: {json.dumps(manifest.get('generation'), sort_keys=True)}")
    assert manifest["records"] == st["output"]["records"] >= EXAMPLE_TARGET
    assert sum(s["records"] for s in manifest["shards"]) == manifest["records"]
    assert manifest["job"]["uid"] == kube.kubectl("get", "dfj", name, "-n", ns, "-o",
                                                  "jsonpath={.metadata.uid}").stdout
    # every published dataset carries its quality report, its plots, the card section and the status summary
    quality = json.loads(s3.client.get_object(Bucket=s3.bucket, Key=f"{out_prefix}/quality.json")["Body"].read())
    jsonschema.validate(quality, quality_report.schema())
    print(f"{path.stem} quality: {json.dumps(quality_report.summary(quality), sort_keys=True)} "
          f"findings: {[f['message'] for f in quality['findings']]}")
    assert manifest["quality"]["key"] == "quality.json" and quality["size"]["records"] == manifest["records"]
    assert {p["key"] for p in manifest["plots"]} == {p["key"] for p in quality["plots"]} and manifest["plots"]
    card = s3.client.get_object(Bucket=s3.bucket, Key=f"{out_prefix}/README.md")["Body"].read().decode()
    assert "## Quality" in card and all(f"({p['key']})" in card for p in quality["plots"])
    assert st["output"]["quality"]["reportUri"] == f"s3://{s3.bucket}/{out_prefix}/quality.json"
    assert st["output"]["quality"]["distinct2"] == quality["diversity"]["distinct2"]
    replay = (doc["spec"].get("mix") or {}).get("replay")
    if replay:  # replay is ratio of the published records, within one record
        assert abs(manifest["replay"]["records"] - replay["ratio"] * manifest["records"]) <= 1, manifest["replay"]
    if (doc["spec"].get("evaluation") or {}).get("forgetting"):  # the guard's Job ran, measured and reported
        guard = quality["forgetting"]
        print(f"{path.stem} forgetting: {json.dumps(quality_report_forgetting(guard), sort_keys=True)}")
        assert manifest["evaluation"]["forgetting"] == guard and guard["mix"]["steps"] == 2
        assert st["evaluation"]["forgetting"]["generalLossIncreasePct"] == guard["mix"]["generalLossIncreasePct"]
        condition = next(c for c in st["conditions"] if c["type"] == "ForgettingGuard")
        assert condition["status"] == ("True" if guard["gate"]["passed"] else "False"), condition
        assert "## Forgetting guard" in card
        assert any(row.startswith("Evaluating") for row in progress), progress
    assert len(progress) >= 2, f"kubectl get dfj never showed progress moving: {progress}"
    accepted = [int(row.split()[2]) for row in progress]
    # Filter shards count what they keep; the global dedup pass then removes duplicates across shards
    # (a real model repeats itself): the column may fall by those, and by nothing else.
    global_dedup = sum(n for k, n in manifest["funnel"]["rejected"].items() if k in ("exactDedup", "minhash"))
    assert all(b >= a or a - b <= global_dedup for a, b in itertools.pairwise(accepted)), \
        f"the ACCEPTED column went backwards by more than the global dedup removed ({global_dedup}): {progress}"
