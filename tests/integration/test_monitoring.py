"""The chart's alerts: their logic on synthetic series (`promtool test rules`, pure logic), and the
restart case on the real operator scraped by the real Prometheus with the chart's rules loaded and
every dashboard query evaluated; the leader gauge of two peered replicas.

The synthetic series have the shapes the operator and the generator pods export (see
`controller/metrics.py`, `engines/metrics.py` and the PodMonitor's relabelings); the integration
test below shows the real operator exporting them.
"""

from __future__ import annotations

import copy
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_chart import MONITORING, dashboard_queries, find, helm, render, rendered_monitoring  # noqa: F401 - `helm` is a fixture

from datafoundry.testing import waiting
from datafoundry.testing.podrunner import PodRunner
from datafoundry.testing.running_operator import (
    S3_SECRET,
    WORKER_SA,
    Operator,
    setup_peering,
)
from datafoundry.testing.testbed import REPO, S3, Kube
from fixtures.prometheus import PrometheusServer

SVC = "df-datafoundry-metrics"  # the operator's scrape job for release "df"
NS, NAME = "team", "job1"
JOB = f'namespace="{NS}",name="{NAME}"'
ALERT_LABELS = {"severity": "warning", "namespace": NS, "name": NAME}


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    sel = ",".join([JOB, *(f'{k}="{v}"' for k, v in labels.items())])
    return {"series": f"{name}{{{sel}}}", "values": values}


def shards(stage: str, active: str) -> list[dict[str, str]]:
    """The operator's shard gauges of one job: `active` shards of `stage`, none of the other stages."""
    out = []
    for s in ("generate", "filter", "dedup", "publish"):
        out.append(series("datafoundry_job_shards", active if s == stage else "0x180", stage=s, state="active"))
    return out


def case(alert: str, inputs: list[dict[str, str]], at: str, fires: bool,
         labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"interval": "1m", "input_series": inputs, "alert_rule_test": [
        {"eval_time": at, "alertname": alert,
         "exp_alerts": [{"exp_labels": labels or ALERT_LABELS}] if fires else []}]}


FLAT = "100x180"  # three hours without a new record
RECORDS = [series("datafoundry_job_records", FLAT, result="generated"),
           series("datafoundry_job_records", "0x180", result="accepted")]
TOKENS_FLAT = [series("datafoundry_job_tokens", "0x180", kind="completion")]

CASES: dict[str, dict[str, Any]] = {
    # -- DataFoundryJobFailed: the phase gauge while it is exported, nothing after its grace period ---
    "failed job fires": case("DataFoundryJobFailed", [
        series("datafoundry_job_phase", "0 0 1x10 stale", phase="Failed")], "5m", True),
    # After the grace period the series go; a restarted operator does not export them again.
    "failed job quiet after its grace period and a restart": case("DataFoundryJobFailed", [
        series("datafoundry_job_phase", "0 0 1x10 stale", phase="Failed"),
        {"series": 'datafoundry_jobs{phase="Failed"}', "values": "0 0 1x10 _x5 1x30"}], "30m", False),
    "succeeded job is no failure": case("DataFoundryJobFailed", [
        series("datafoundry_job_phase", "0x20", phase="Failed"),
        series("datafoundry_job_phase", "1x20", phase="Succeeded")], "10m", False),
    # -- DataFoundryJobProgressStalled: only generate and filter, active for the whole window -----------
    "stalled generation fires": case("DataFoundryJobProgressStalled", [*RECORDS, *shards("generate", "2x180")],
                                     "60m", True),
    "long dedup is quiet": case("DataFoundryJobProgressStalled", [*RECORDS, *shards("dedup", "1x180")],
                                "150m", False),
    "long publish is quiet": case("DataFoundryJobProgressStalled", [*RECORDS, *shards("publish", "1x180")],
                                  "150m", False),
    # The next round's generation starts after a long dedup: its first minutes are no stall.
    "generation after a long dedup is quiet": case("DataFoundryJobProgressStalled", [
        *RECORDS,
        series("datafoundry_job_shards", "0x60 2x120", stage="generate", state="active"),
        series("datafoundry_job_shards", "1x60 0x120", stage="dedup", state="active"),
        series("datafoundry_job_shards", "0x180", stage="filter", state="active")], "75m", False),
    "moving records are quiet": case("DataFoundryJobProgressStalled", [
        series("datafoundry_job_records", "0+5x180", result="generated"), *shards("generate", "2x180")],
        "60m", False),
    # -- DataFoundryGenerationThroughputZero: quiet while the model loads and for the window after ------
    "no tokens fires": case("DataFoundryGenerationThroughputZero", [*TOKENS_FLAT, *shards("generate", "1x180")],
                            "40m", True),
    "model loading is quiet": case("DataFoundryGenerationThroughputZero", [
        *TOKENS_FLAT, *shards("generate", "1x180"),
        series("datafoundry_generator_model_loading", "1x50 0x130", pod="job1-gen-r0-0-abc")], "60m", False),
    "no tokens after the model loaded fires": case("DataFoundryGenerationThroughputZero", [
        *TOKENS_FLAT, *shards("generate", "1x180"),
        series("datafoundry_generator_model_loading", "1x50 0x130", pod="job1-gen-r0-0-abc")], "90m", True),
    # -- DataFoundryJobPendingTooLong ------------------------------------------------------------------
    "pending for long fires": case("DataFoundryJobPendingTooLong", [
        series("datafoundry_job_phase", "1x60", phase="Pending")], "40m", True),
    "pending briefly is quiet": case("DataFoundryJobPendingTooLong", [
        series("datafoundry_job_phase", "1x10 0x50", phase="Pending")], "40m", False),
    "child Jobs held by a queue fire": case("DataFoundryJobPendingTooLong", [
        series("datafoundry_job_phase", "1x60", phase="Generating"),
        series("datafoundry_job_child_jobs", "1x60", state="suspended")], "40m", True),
    "a job suspended by its user is quiet": case("DataFoundryJobPendingTooLong", [
        series("datafoundry_job_phase", "1x60", phase="Suspended"),
        series("datafoundry_job_child_jobs", "1x60", state="suspended")], "40m", False),
    # -- DataFoundryJobPodsNotCreated ------------------------------------------------------------------
    "child Job without pods fires": case("DataFoundryJobPodsNotCreated", [
        series("datafoundry_job_child_jobs", "1x30", state="without_pods")], "20m", True),
    "a retry's back-off is quiet": case("DataFoundryJobPodsNotCreated", [
        series("datafoundry_job_child_jobs", "0x5 1x5 0x20", state="without_pods")], "20m", False),
    # -- DataFoundryJobLowAcceptanceRate: filtered records only, at least 100 ---------------------------
    "few records pass the filters fires": case("DataFoundryJobLowAcceptanceRate", [
        series("datafoundry_job_records", "10x30", result="accepted"),
        series("datafoundry_job_records_rejected", "190x30", filter="minhash"),
        series("datafoundry_job_records_rejected", "0x30", filter="generator.parse")], "20m", True),
    "most records pass is quiet": case("DataFoundryJobLowAcceptanceRate", [
        series("datafoundry_job_records", "150x30", result="accepted"),
        series("datafoundry_job_records_rejected", "50x30", filter="minhash")], "20m", False),
    "too few filtered records is quiet": case("DataFoundryJobLowAcceptanceRate", [
        series("datafoundry_job_records", "1x30", result="accepted"),
        series("datafoundry_job_records_rejected", "20x30", filter="minhash")], "20m", False),
    # Generation drops come before any record is accepted: no acceptance rate yet.
    "generation drops before filtering are quiet": case("DataFoundryJobLowAcceptanceRate", [
        series("datafoundry_job_records", "0x30", result="accepted"),
        series("datafoundry_job_records_rejected", "500x30", filter="generator.parse")], "20m", False),
    # -- DataFoundryJobBelowTarget ---------------------------------------------------------------------
    "succeeded below target fires": case("DataFoundryJobBelowTarget", [
        series("datafoundry_job_phase", "1x10", phase="Succeeded"),
        series("datafoundry_job_progress_ratio", "0.6x10")], "5m", True),
    "succeeded at target is quiet": case("DataFoundryJobBelowTarget", [
        series("datafoundry_job_phase", "1x10", phase="Succeeded"),
        series("datafoundry_job_progress_ratio", "1x10")], "5m", False),
    "running below target is quiet": case("DataFoundryJobBelowTarget", [
        series("datafoundry_job_phase", "1x10", phase="Generating"),
        series("datafoundry_job_progress_ratio", "0.6x10")], "5m", False),
    # -- the operator ----------------------------------------------------------------------------------
    "operator memory near its limit fires": case("DataFoundryOperatorMemoryHigh", [
        {"series": f'process_resident_memory_bytes{{job="{SVC}",instance="10.0.0.1:8080"}}', "values": "950e6x30"},
        {"series": f'datafoundry_operator_memory_limit_bytes{{job="{SVC}",instance="10.0.0.1:8080"}}',
         "values": "1e9x30"}], "20m", True, {"severity": "warning", "instance": "10.0.0.1:8080"}),
    "operator without a memory limit is quiet": case("DataFoundryOperatorMemoryHigh", [
        {"series": f'process_resident_memory_bytes{{job="{SVC}",instance="10.0.0.1:8080"}}', "values": "950e6x30"}],
        "20m", False),
    "operator down fires": case("DataFoundryOperatorDown", [
        {"series": f'up{{job="{SVC}",instance="10.0.0.1:8080"}}', "values": "0x10"}], "6m", True,
        {"severity": "critical"}),
    "many failing reconciles fire": case("DataFoundryReconcileErrors", [
        {"series": f'controller_runtime_reconcile_total{{job="{SVC}",controller="datafoundryjob",result="error"}}',
         "values": "0+10x40"},
        {"series": f'controller_runtime_reconcile_errors_total{{job="{SVC}",controller="datafoundryjob"}}',
         "values": "0+5x40"}], "30m", True, {"severity": "warning"}),
}

#: What the failed-job alert was before (a counter re-counted at each start): the restart case fires it.
OLD_FAILED_EXPR = 'sum(increase(datafoundry_job_phase_transitions_total{phase="Failed"}[15m])) > 0'


def rules_without_annotations(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chart's groups with the annotations left out: the unit tests check when alerts fire and
    with which labels; the annotations' templates are checked by loading them into the real server."""
    out = copy.deepcopy(groups)
    for group in out:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return out


def promtool_test(promtool: str, tmp_path: Path, groups: list[dict[str, Any]],
                  tests: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}))
    return subprocess.run([promtool, "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.prometheus
def test_each_alert_fires_where_it_should_and_only_there(helm: str, promtool: str,  # noqa: F811
                                                         tmp_path: Path) -> None:
    groups, _ = rendered_monitoring(helm)
    alerts = {r["alert"] for g in groups for r in g["rules"]}
    tested = {t["alert_rule_test"][0]["alertname"] for t in CASES.values()}
    assert tested == alerts, f"alerts without a case: {alerts - tested}"
    firing = {t["alert_rule_test"][0]["alertname"] for t in CASES.values() if t["alert_rule_test"][0]["exp_alerts"]}
    assert firing == alerts, f"alerts never shown firing: {alerts - firing}"
    proc = promtool_test(promtool, tmp_path, rules_without_annotations(groups), list(CASES.values()))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


@pytest.mark.prometheus
def test_the_restart_case_fired_the_old_failed_alert(promtool: str, tmp_path: Path) -> None:
    """The counter-based alert fired again when a restarted operator re-counted its retained Failed jobs:
    the shape the phase gauge replaces (the same promtool run proves the test would catch it)."""
    groups = [{"name": "old", "rules": [{"alert": "OldJobFailed", "expr": OLD_FAILED_EXPR}]}]
    counter = {"series": 'datafoundry_job_phase_transitions_total{phase="Failed"}',
               # failed at 2m; the operator restarts at 60m (the counter starts again) and re-counts the job
               "values": "0 0 1x57 _ 0 1x20"}
    tests = [{"interval": "1m", "input_series": [counter], "alert_rule_test": [
        {"eval_time": "40m", "alertname": "OldJobFailed", "exp_alerts": []},
        {"eval_time": "65m", "alertname": "OldJobFailed", "exp_alerts": [{"exp_labels": {}}]}]}]
    proc = promtool_test(promtool, tmp_path, groups, tests)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------- the real operator, restarted
GRACE_SECONDS = 4


@pytest.fixture(scope="module")
def operator(kube: Kube, s3: S3, operator_rbac: Path) -> Iterator[Operator]:
    """This module's operator keeps a finished job's series for GRACE_SECONDS, not 10 minutes."""
    log_dir = REPO / ".local" / "test" / "logs"
    op = Operator.on_free_ports(kube, s3, operator_rbac, log_dir / f"operator-alerts-{uuid.uuid4().hex[:6]}.log",
                                extra_env={"DATAFOUNDRY_FINISHED_JOB_METRICS_SECONDS": str(GRACE_SECONDS)})
    op.start()
    try:
        yield op
    finally:
        op.stop()


def _contract_job(name: str, s3: S3, prefix: str) -> dict[str, Any]:
    return {"apiVersion": "datafoundry.io/v1alpha1", "kind": "DataFoundryJob", "metadata": {"name": name}, "spec": {
        "task": {"domain": "Kubernetes operations", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
        "target": {"records": 20, "overgenerate": 1.5},
        "generator": {"model": "org/tiny", "shards": 2, "gpusPerShard": 1},
        "output": {"uri": f"s3://{s3.bucket}/{prefix}{name}", "endpointURL": s3.endpoint_url,
                   "credentials": {"secretRef": {"name": S3_SECRET}}}}}


def _alert(prometheus: PrometheusServer, ns: str, name: str, window: str | None = None) -> list[dict[str, Any]]:
    sel = f'alertname="DataFoundryJobFailed",alertstate="firing",namespace="{ns}",name="{name}"'
    return prometheus.query(f"max_over_time(ALERTS{{{sel}}}[{window}])" if window else f"ALERTS{{{sel}}}")


@pytest.mark.integration
@pytest.mark.prometheus
def test_failed_job_alert_stays_quiet_when_the_operator_restarts(
    helm: str, kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator,  # noqa: F811
    pod_runner: PodRunner, prometheus: PrometheusServer,
) -> None:
    ns, name = job_namespace, "doomed"
    scrape_job = f"alerts-{uuid.uuid4().hex[:6]}"
    address = operator.metrics_url.split("/")[2]
    prometheus.add_target(scrape_job, address, honor_labels=True)
    groups, _ = rendered_monitoring(helm)
    loaded = prometheus.add_rule_groups(f"alerts-{scrape_job}", groups)
    try:
        # The operator's own series: build info, leader (standalone: active), process collectors.
        sel = f'job="{scrape_job}"'
        assert prometheus.wait_for(f'datafoundry_build_info{{{sel}}} == 1')[0]["metric"]["version"]
        assert prometheus.wait_for(f"datafoundry_operator_leader{{{sel}}} == 1")
        assert prometheus.wait_for(f"process_resident_memory_bytes{{{sel}}} > 0")
        assert prometheus.wait_for(f"python_gc_collections_total{{{sel}}}")

        pod_runner.extra_env["CONTRACT_WORKER_FAIL"] = "filter:0:always"
        kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(_contract_job(name, s3, s3_prefix)))
        # The phase gauge reaches Prometheus, and the alert fires with the job's namespace and name.
        prometheus.wait_for(f'datafoundry_job_phase{{namespace="{ns}",name="{name}",phase="Failed"}} == 1', 120)
        firing = prometheus.wait_for(
            f'ALERTS{{alertname="DataFoundryJobFailed",alertstate="firing",namespace="{ns}",name="{name}"}}', 10)
        assert firing[0]["metric"]["severity"] == "warning"
        # The generate stage completed before the filter failed: its duration was observed.
        assert prometheus.value(f'sum(datafoundry_stage_duration_seconds_count{{{sel},stage="generate"}})') >= 1
        # Every dashboard query (panels and the phase annotations) and every alert evaluates on this data.
        groups_, dashboard = rendered_monitoring(helm)
        with_data = {title for title, expr in dashboard_queries(dashboard) if prometheus.query(expr)}
        assert {"Jobs by phase", "Child Jobs without pods", "Operator memory", "Leader and version",
                "Shards per job", "Generated and accepted records"} <= with_data, f"with data: {with_data}"
        for rule in (r for g in groups_ for r in g["rules"]):
            prometheus.query(rule["expr"])  # raises on a PromQL error
        # The grace period passes: the job's series go and the alert resolves.
        waiting.wait_for("the job's series to go", lambda: f'name="{name}"' not in operator.metrics(), 30)
        waiting.wait_for("the alert to resolve", lambda: not _alert(prometheus, ns, name), 30)

        # A restart (or a failover) with the Failed job retained: nothing fires again.
        operator.stop()
        restarted = time.time()
        operator.start()
        # The new process was scraped after it had found the Failed job.
        prometheus.wait_for(f'datafoundry_jobs{{{sel},phase="Failed"}} >= 1 '
                            f'and on (instance) process_start_time_seconds{{{sel}}} >= {restarted - 1:.0f}', 60)
        time.sleep(5)  # five more scrapes and rule evaluations
        window = f"{int(time.time() - restarted) + 1}s"
        assert _alert(prometheus, ns, name, window) == [], "DataFoundryJobFailed fired again after the restart"
        assert f'name="{name}"' not in operator.metrics()
        # The restart counted no transition (the old alert's counter would have fired it).
        assert prometheus.value(f'sum(datafoundry_job_phase_transitions_total{{{sel},phase="Failed"}})') == 0
        assert {r["name"] for g in loaded for r in g["rules"]} >= {"DataFoundryJobFailed"}
    finally:
        prometheus.remove_rule_file(loaded[0]["file"])
        prometheus.remove_target(scrape_job)


# ------------------------------------------------------ pods never created: no worker ServiceAccount
@pytest.mark.integration
def test_a_child_job_whose_pods_cannot_be_created_is_counted(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, pod_runner: PodRunner,
) -> None:
    """Without the worker ServiceAccount the real Job controller creates no pod: the operator's
    `datafoundry_job_child_jobs{state="without_pods"}` (DataFoundryJobPodsNotCreated) says so."""
    ns, name = job_namespace, "nosa"
    kube.core.delete_namespaced_service_account(WORKER_SA, ns)
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(_contract_job(name, s3, s3_prefix)))
    # The Job controller tried and failed (not merely: the pod is not created yet).
    waiting.wait_for("the Job controller's FailedCreate event", lambda: any(
        e.reason == "FailedCreate" and e.involved_object.name == f"{name}-gen-r0"
        for e in kube.core.list_namespaced_event(ns).items), 60)
    line = f'datafoundry_job_child_jobs{{name="{name}",namespace="{ns}",state="without_pods"}} 1.0'
    waiting.wait_for("the child Job without pods to be counted", lambda: line in operator.metrics(), 30,
                     details=lambda: operator.log_tail())
    assert f'datafoundry_job_phase{{name="{name}",namespace="{ns}",phase="Generating"}} 1.0' in operator.metrics()
    assert not kube.core.list_namespaced_pod(ns).items and not pod_runner.find(f"{name}-gen-r0-")
    kube.kubectl("delete", "dfj", name, "-n", ns, "--wait=true", "--timeout=60s")
    # Deleting the job drops its series at once.
    waiting.wait_for("the job's series to go", lambda: f'name="{name}"' not in operator.metrics(), 30)


# ---------------------------------------------------------------- a long dedup on the real operator
STALLED_FOR = "6s"
#: The stalled alert as it was: any active shard, dedup and publish included.
OLD_STALLED_EXPR = (
    f"sum by (namespace, name) (changes(datafoundry_job_records[{STALLED_FOR}])) == 0"
    " and on (namespace, name) sum by (namespace, name) (datafoundry_job_shards{state=\"active\"}) > 0"
    " and on (namespace, name) max by (namespace, name) "
    f"(present_over_time(datafoundry_job_records[5m] offset {STALLED_FOR}))")


@pytest.mark.integration
@pytest.mark.prometheus
def test_a_long_dedup_keeps_the_stalled_alert_quiet(
    helm: str, kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator,  # noqa: F811
    pod_runner: PodRunner, prometheus: PrometheusServer,
) -> None:
    """The chart's stalled-progress expression (with a 6 s window) on the real operator's series while a
    dedup shard runs for 15 s: empty all along, where the old expression matched the job."""
    ns, name = job_namespace, "dedupslow"
    scrape_job = f"dedup-{uuid.uuid4().hex[:6]}"
    prometheus.add_target(scrape_job, operator.metrics_url.split("/")[2], honor_labels=True)
    values = {**MONITORING, "prometheusRule": {"enabled": True, "stalledFor": STALLED_FOR}}
    (rule,) = find(render(helm, values), "PrometheusRule")
    (stalled,) = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]
                  if r["alert"] == "DataFoundryJobProgressStalled"]
    job = f'namespace="{ns}",name="{name}"'
    try:
        pod_runner.extra_env["CONTRACT_WORKER_SLEEP_DEDUP"] = "15"
        kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(_contract_job(name, s3, s3_prefix)))
        prometheus.wait_for(f'datafoundry_job_shards{{{job},stage="dedup",state="active"}} == 1', 120)
        old_matched, new_matched, checks = False, [], 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and prometheus.query(
                f'datafoundry_job_shards{{{job},stage="dedup",state="active"}} == 1'):
            new_matched += [r for r in prometheus.query(stalled) if r["metric"].get("name") == name]
            old_matched = old_matched or any(r["metric"].get("name") == name
                                             for r in prometheus.query(OLD_STALLED_EXPR))
            checks += 1
            time.sleep(0.5)
        assert checks >= 10, "the dedup ended before the stalled window could pass"
        assert old_matched, "the old expression never matched: the dedup was not long enough to show anything"
        assert new_matched == [], "the stalled alert's expression matched a job whose dedup runs"
    finally:
        prometheus.remove_target(scrape_job)


# ------------------------------------------------------------------- leader and standby (peering)
def _leader(op: Operator) -> float | None:
    for line in op.metrics().splitlines():
        if line.startswith("datafoundry_operator_leader "):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.integration
def test_the_leader_gauge_is_one_on_the_active_replica_only(kube: Kube, s3: S3, operator: Operator) -> None:
    peering, kubeconfig = setup_peering(kube, "df-leader")
    log_dir = REPO / ".local" / "test" / "logs"
    active, standby = (Operator.on_free_ports(kube, s3, kubeconfig, log_dir / f"operator-leader{p}.log",
                                              extra_args=["--peering", peering, "--peering-priority", str(p)])
                       for p in (200, 100))
    operator.stop()  # the module's standalone operator would act too
    try:
        active.start()
        standby.start()
        waiting.wait_for("the higher priority replica to lead", lambda: _leader(active) == 1, 60)
        assert _leader(standby) == 0
        time.sleep(2)  # a few keep-alives: the standby stays a standby
        assert _leader(standby) == 0 and _leader(active) == 1
        active.stop()  # a rollout: the active replica leaves the peering
        waiting.wait_for("the standby to take over", lambda: _leader(standby) == 1, 60)
    finally:
        active.stop()
        standby.stop()
        kube.kubectl("delete", "clusterkopfpeering", peering, "--ignore-not-found")
        operator.start()
