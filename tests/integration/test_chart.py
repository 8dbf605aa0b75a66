"""The Helm chart: lint and render over a matrix of values, the schema, RBAC equal to `policy_rules()`,
and a real `helm install` into the test bed's control plane, where the operator runs from the
chart's rendered Deployment (args, env) with the chart's own ServiceAccount token and reconciles
examples/quickstart.yaml to Succeeded, while the test bed's Prometheus scrapes it and runs every
dashboard query and alert; `helm test` then runs the chart's test Pod against it. Then `helm
uninstall` must leave nothing of the operator behind. The chart also installs as a dependency of an
umbrella chart, and `make chart-package` builds the .tgz that `helm push` takes.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import tarfile
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from datafoundry.controller.rbac import policy_rules
from datafoundry.testing.podrunner import REAL_WORKER, PodRunner
from datafoundry.testing.running_operator import Operator, write_token_kubeconfig
from datafoundry.testing.testbed import REPO, S3, Kube
from fixtures.prometheus import PrometheusServer

CHART = REPO / "charts" / "datafoundry"
VERSIONS = dict(line.split("=", 1) for line in (REPO / "hack" / "versions.env").read_text().splitlines()
                if line and not line.startswith("#"))
HELM_VERSION = VERSIONS["HELM_VERSION"]
KUBE_VERSION = "1.35.0"
CRD_NAME = "datafoundryjobs.datafoundry.io"
ALERTS = {"DataFoundryJobFailed", "DataFoundryJobProgressStalled", "DataFoundryGenerationThroughputZero",
          "DataFoundryJobPendingTooLong", "DataFoundryJobPodsNotCreated", "DataFoundryJobLowAcceptanceRate",
          "DataFoundryJobBelowTarget", "DataFoundryOperatorDown", "DataFoundryReconcileErrors",
          "DataFoundryOperatorMemoryHigh"}
DASHBOARD_ROWS = ["Jobs", "Funnel per job", "Throughput", "Generators", "Shards", "Durations", "Operator"]
MONITORING = {"metrics": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}},
              "prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}}

MATRIX: dict[str, dict[str, Any]] = {
    "defaults": {},
    "cluster-wide+monitoring": {**MONITORING, "networkPolicy": {"enabled": True},
                                "podDisruptionBudget": {"enabled": True}},
    "monitoring-off": {"metrics": {"serviceMonitor": {"enabled": False}, "podMonitor": {"enabled": False}},
                       "prometheusRule": {"enabled": False}, "grafanaDashboard": {"enabled": False}},
    "namespaced": {"operator": {"watchNamespaces": ["team-a", "team-b"]}, **MONITORING},
    "peering": {"replicaCount": 2},
    "namespaced+peering": {"replicaCount": 3, "operator": {"watchNamespaces": ["team-a"]},
                           "peering": {"name": "df", "priority": 7}},
    "registry-override": {"global": {"imageRegistry": "mirror.example:5000", "imagePullSecrets": ["regcred"]},
                          "image": {"digest": "sha256:" + "a" * 64}},
    "crds-off": {"crds": {"enabled": False}},
    "crds-not-kept": {"crds": {"keep": False}},
}


# ------------------------------------------------------------------------------------------ helm
@pytest.fixture(scope="session")
def helm() -> str:
    """The helm binary built by hack/build-controlplane.sh (cached by version and build flags; a no-op then)."""
    proc = subprocess.run([str(REPO / "hack" / "build-controlplane.sh"), "helm"],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        pytest.fail(f"hack/build-controlplane.sh helm failed:\n{proc.stderr[-4000:]}", pytrace=False)
    path = Path(proc.stdout.strip().splitlines()[-1]) / "helm"
    assert os.access(path, os.X_OK), path
    return str(path)


def _values_file(values: dict[str, Any]) -> str:
    fd, path = tempfile.mkstemp(prefix="df-values-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return path


def run_helm(helm: str, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([helm, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout[-2000:]}")
    return proc


def render(helm: str, values: dict[str, Any], release: str = "df", namespace: str = "dfs") -> list[dict[str, Any]]:
    out = run_helm(helm, "template", release, str(CHART), "--namespace", namespace, "--kube-version", KUBE_VERSION,
                   "--include-crds", "-f", _values_file(values)).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def find(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def operator_roles(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in ("ClusterRole", "Role")
            and d["metadata"]["labels"].get("app.kubernetes.io/component") == "operator"]


def deployment_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (dep,) = find(docs, "Deployment")
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------ render matrix
@pytest.mark.parametrize("case", list(MATRIX))
def test_helm_lint(helm: str, case: str) -> None:
    run_helm(helm, "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, "-f", _values_file(MATRIX[case]))


@pytest.mark.parametrize("case", list(MATRIX))
def test_helm_template_matrix(helm: str, case: str) -> None:
    values = MATRIX[case]
    docs = render(helm, values)
    watch = values.get("operator", {}).get("watchNamespaces", [])
    replicas = values.get("replicaCount", 1)
    peering = replicas > 1 or values.get("peering", {}).get("enabled", False)
    kinds = {d["kind"] for d in docs}

    # One active replica, Recreate, probes, the restricted Pod Security Standard.
    (dep,) = find(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert dep["spec"]["replicas"] == replicas and dep["spec"]["strategy"] == {"type": "Recreate"}
    container = deployment_container(docs)
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert pod["securityContext"]["runAsNonRoot"] is True and isinstance(pod["securityContext"]["runAsUser"], int)
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    args = container["args"]
    assert args[0] == "operator" and [a for a in args if a.startswith("--namespace=")] == [
        f"--namespace={ns}" for ns in watch]
    assert any(a.startswith("--peering=") for a in args) == peering
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DATAFOUNDRY_WORKER_SERVICE_ACCOUNT"] == "datafoundry-worker"

    # Images: the registry override reaches the operator and both worker images.
    registry = values.get("global", {}).get("imageRegistry")
    images = [container["image"], env["DATAFOUNDRY_GENERATOR_IMAGE"], env["DATAFOUNDRY_FILTER_IMAGE"]]
    # The operator knows its own image (the manifest and the card record it with the workers').
    assert env["DATAFOUNDRY_OPERATOR_IMAGE"] == container["image"]
    for image in images:
        assert image.startswith(f"{registry or 'ghcr.io'}/datafoundry/"), image
    if "image" in values:
        assert container["image"].endswith("@" + values["image"]["digest"])
    pull = values.get("global", {}).get("imagePullSecrets", [])
    assert env["DATAFOUNDRY_IMAGE_PULL_SECRETS"] == ",".join(pull)
    assert [s["name"] for s in pod.get("imagePullSecrets", [])] == pull

    # RBAC: exactly the operator's rules from rbac.py, cluster-wide or per watched namespace.
    roles = operator_roles(docs)
    if watch:
        assert {r["kind"] for r in roles} == {"Role"}
        assert sorted(r["metadata"]["namespace"] for r in roles) == sorted(watch)
        assert sorted(b["metadata"]["namespace"] for b in find(docs, "RoleBinding")) == sorted(watch)
        assert not find(docs, "ClusterRoleBinding")
    else:
        assert [r["kind"] for r in roles] == ["ClusterRole"]
        assert len(find(docs, "ClusterRoleBinding")) == 1
    for role in roles:
        assert role["rules"] == policy_rules(peering), role["metadata"]
    for role in find(docs, "ClusterRole") + find(docs, "Role"):
        for rule in role["rules"]:
            assert "secrets" not in rule["resources"] and "*" not in rule["resources"] + rule["verbs"]

    # Worker ServiceAccounts: no token, in the release namespace and every watched one.
    workers = [sa for sa in find(docs, "ServiceAccount") if sa["metadata"]["name"] == "datafoundry-worker"]
    assert sorted(sa["metadata"]["namespace"] for sa in workers) == sorted({"dfs", *watch})
    assert all(sa["automountServiceAccountToken"] is False for sa in workers)

    # Peering objects exactly when peering is on.
    peerings = find(docs, "ClusterKopfPeering") + find(docs, "KopfPeering")
    if not peering:
        assert not peerings
    elif watch:
        assert sorted(p["metadata"]["namespace"] for p in peerings if p["kind"] == "KopfPeering") == sorted(watch)
    else:
        assert [p["kind"] for p in peerings] == ["ClusterKopfPeering"]

    # CRDs: ours per crds.enabled/keep and identical to crds/; kopf's from the crds/ folder.
    crds = {d["metadata"]["name"]: d for d in find(docs, "CustomResourceDefinition")}
    assert {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"} <= set(crds)
    crd_cfg = {"enabled": True, "keep": True, **values.get("crds", {})}
    assert (CRD_NAME in crds) == crd_cfg["enabled"]
    if crd_cfg["enabled"]:
        source = yaml.safe_load((REPO / "crds" / "datafoundryjob.yaml").read_text())
        assert crds[CRD_NAME]["spec"] == source["spec"]
        keep = (crds[CRD_NAME]["metadata"].get("annotations") or {}).get("helm.sh/resource-policy")
        assert keep == ("keep" if crd_cfg["keep"] else None)

    monitoring = values.get("prometheusRule", {}).get("enabled", False)
    assert ({"ServiceMonitor", "PodMonitor", "PrometheusRule"} <= kinds) == monitoring
    assert ("NetworkPolicy" in kinds) == values.get("networkPolicy", {}).get("enabled", False)
    assert ("PodDisruptionBudget" in kinds) == values.get("podDisruptionBudget", {}).get("enabled", False)
    if monitoring:
        (pm,) = find(docs, "PodMonitor")
        assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
        assert pm["spec"]["namespaceSelector"] == ({"matchNames": watch} if watch else {"any": True})
        (sm,) = find(docs, "ServiceMonitor")
        assert sm["spec"]["endpoints"][0]["honorLabels"] is True
        (cm,) = [c for c in find(docs, "ConfigMap") if c["metadata"]["name"].endswith("-dashboard")]
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"


@pytest.mark.parametrize("kind", ["ConfigMap", "Secret"])
def test_the_operator_gets_the_stores_ca_bundle_for_its_own_reads(helm: str, kind: str) -> None:
    """A job's endpointCA reaches its worker pods; the operator, which cannot read that Secret, gets the
    same bundle from the chart for live progress and staging cleanup (boto3 reads AWS_CA_BUNDLE)."""
    docs = render(helm, {"operator": {"s3": {"caBundle": {"kind": kind, "name": "store-ca", "key": "bundle.pem"}}}})
    container = deployment_container(docs)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["AWS_CA_BUNDLE"] == "/etc/datafoundry/s3-ca/ca.crt"
    assert {"name": "s3-ca", "mountPath": "/etc/datafoundry/s3-ca", "readOnly": True} in container["volumeMounts"]
    (dep,) = find(docs, "Deployment")
    (volume,) = [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "s3-ca"]
    source = volume["secret"] if kind == "Secret" else volume["configMap"]
    assert source["secretName" if kind == "Secret" else "name"] == "store-ca"
    assert source["items"] == [{"key": "bundle.pem", "path": "ca.crt"}]
    # Without a bundle: the system's CAs, nothing mounted.
    default = deployment_container(render(helm, {}))
    assert "AWS_CA_BUNDLE" not in {e["name"] for e in default["env"]}
    assert all(m["name"] != "s3-ca" for m in default["volumeMounts"])


@pytest.mark.parametrize("typo", [
    ["--set", "operator.watchNamspaces[0]=x"],
    ["--set", "replicas=2"],
    ["--set", "workers.generator.resources.gpus=1"],
    ["--set", "metrics.serviceMonitor.enable=true"],
    ["--set", "workers.filter.resources.memory=lots"],
    ["--set", "revisionHistoryLimit=-1"],
    ["--set", "operator.extraArgs[0]=1"],
    ["--set", "topologySpreadConstraints[0].maxSkew=1"],  # no topologyKey
    ["--set", "extraVolumeMounts[0].name=x"],  # no mountPath
    ["--set", "tests.enable=false"],
])
def test_values_schema_rejects_typos(helm: str, typo: list[str]) -> None:
    proc = run_helm(helm, "template", "df", str(CHART), "--kube-version", KUBE_VERSION, *typo, check=False)
    assert proc.returncode != 0 and "values don't meet the specifications of the schema" in proc.stderr, proc.stderr


def test_values_an_umbrella_chart_passes_are_accepted(helm: str) -> None:
    """An umbrella chart passes `enabled` (its condition) and its own `global` keys to every dependency."""
    docs = render(helm, {"enabled": True, "global": {"storageClass": "fast", "postgresql": {"auth": {"x": "y"}},
                                                     "imageRegistry": "mirror.example:5000"}})
    assert deployment_container(docs)["image"].startswith("mirror.example:5000/datafoundry/operator:")


def test_operator_deployment_extras(helm: str) -> None:
    """extraArgs, extraVolumes/extraVolumeMounts, topologySpreadConstraints and revisionHistoryLimit reach the
    Deployment; a spread constraint without labelSelector selects the operator's pods."""
    spread = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"},
              {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"team": "ml"}}}]
    volume = {"name": "extra-ca", "configMap": {"name": "corp-ca"}}
    mount = {"name": "extra-ca", "mountPath": "/etc/corp-ca", "readOnly": True}
    docs = render(helm, {"operator": {"extraArgs": ["--verbose", "--peering-priority=3"], "verbose": False},
                         "extraVolumes": [volume], "extraVolumeMounts": [mount],
                         "topologySpreadConstraints": spread, "revisionHistoryLimit": 3})
    (dep,) = find(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    container = deployment_container(docs)
    assert container["args"][-2:] == ["--verbose", "--peering-priority=3"]
    assert dep["spec"]["revisionHistoryLimit"] == 3
    assert volume in pod["volumes"] and {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in pod["volumes"]
    assert mount in container["volumeMounts"] and {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    selector = dep["spec"]["selector"]["matchLabels"]
    assert pod["topologySpreadConstraints"] == [{**spread[0], "labelSelector": {"matchLabels": selector}}, spread[1]]
    assert selector.items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    # Defaults: Kubernetes' own history limit, nothing extra.
    (dep,) = find(render(helm, {}), "Deployment")
    assert dep["spec"]["revisionHistoryLimit"] == 10
    assert "topologySpreadConstraints" not in dep["spec"]["template"]["spec"]
    assert [v["name"] for v in dep["spec"]["template"]["spec"]["volumes"]] == ["tmp"]


def test_helm_test_pod_asks_the_operators_service(helm: str) -> None:
    """The `helm test` hook: the operator image runs check-operator against the Service's health and metrics
    ports, under the restricted profile, with no API token; the NetworkPolicy lets it scrape."""
    values = {"operator": {"metricsPort": 9100, "healthPort": 9101},
              "networkPolicy": {"enabled": True, "metricsFrom": [{"namespaceSelector": {"matchLabels": {"m": "y"}}}]}}
    docs = render(helm, values, release="df", namespace="dfs")
    (pod,) = find(docs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["image"] == deployment_container(docs)["image"]
    assert container["args"][:3] == ["check-operator", "--health-url=http://df-datafoundry-metrics.dfs.svc:9101/healthz",
                                     "--metrics-url=http://df-datafoundry-metrics.dfs.svc:9100/metrics"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["runAsNonRoot"] is True
    (svc,) = find(docs, "Service")
    assert svc["metadata"]["name"] == "df-datafoundry-metrics"
    assert {(p["name"], p["port"]) for p in svc["spec"]["ports"]} == {("metrics", 9100), ("health", 9101)}
    (policy,) = find(docs, "NetworkPolicy")
    metrics_from = policy["spec"]["ingress"][0]["from"]
    labels = pod["metadata"]["labels"]
    test_labels = {k: labels[k] for k in ("app.kubernetes.io/instance", "app.kubernetes.io/component")}
    assert {"podSelector": {"matchLabels": test_labels}} in metrics_from
    assert not find(render(helm, {"tests": {"enabled": False}}), "Pod")


def notes(helm: str, kube: Kube, chart: str | Path, values: dict[str, Any], release: str = "df") -> str:
    """NOTES.txt as `helm install` prints it (a dry run: helm renders NOTES only for an install, which needs a
    cluster even when it changes nothing)."""
    # --take-ownership: a dry run adopts nothing, and the test bed may hold the CRD already (not Helm's).
    out = run_helm(helm, "install", release, str(chart), "--dry-run=server", "--take-ownership", "--namespace", "dfs",
                   "--kubeconfig", str(kube.kubeconfig), "-f", _values_file(values)).stdout
    return out.split("NOTES:\n", 1)[1]


def notes_manifest(text: str) -> str:
    """The first job the NOTES show, as the user saves it."""
    block = text.split("# first-dataset.yaml\n", 1)[1].split("# end of first-dataset.yaml", 1)[0]
    return textwrap.dedent(block)


@pytest.mark.integration
@pytest.mark.parametrize("values", [{}, {"crds": {"enabled": False}, "operator": {"watchNamespaces": ["team-a"]}}])
def test_notes_stand_on_their_own(helm: str, kube: Kube, values: dict[str, Any], tmp_path: Path) -> None:
    """The NOTES of a packaged chart point at nothing outside it; the job they show is valid (the umbrella
    install test also has the API server accept it)."""
    text = notes(helm, kube, CHART, values)
    assert "examples/" not in text and "crds/datafoundryjob.yaml" not in text
    assert "helm test df -n dfs" in text and "kubectl explain dfj.spec" in text
    manifest = tmp_path / "first-dataset.yaml"
    manifest.write_text(notes_manifest(text))
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "datafoundry"), "validate", str(manifest)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job = yaml.safe_load(manifest.read_text())
    assert job["kind"] == "DataFoundryJob"
    assert job["spec"]["output"]["credentials"]["secretRef"]["name"] == "datafoundry-s3"
    if not values.get("crds", {}).get("enabled", True):
        assert "--show-only templates/crds.yaml" in text


def test_helm_is_stamped_with_its_version(helm: str, tmp_path: Path) -> None:
    """The test bed's helm reports its release and defaults to its client-go's Kubernetes version (not 1.20), so
    a chart with a kubeVersion constraint renders without --kube-version."""
    version = run_helm(helm, "version", "--template", "{{ .Version }}").stdout.strip()
    assert version == HELM_VERSION
    chart = tmp_path / "kv"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": "kv", "version": "0.1.0",
                                                       "kubeVersion": ">=1.29.0-0"}))
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kv\ndata:\n"
        "  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n")
    (cm,) = yaml.safe_load_all(run_helm(helm, "template", "kv", str(chart)).stdout)
    major, minor = cm["data"]["kube"].removeprefix("v").split(".")[:2]
    assert int(major) == 1 and int(minor) >= int(VERSIONS["K8S_VERSION"].split(".")[1]), cm["data"]
    # Our chart (kubeVersion >=1.29) renders and lints without --kube-version too.
    assert find([d for d in yaml.safe_load_all(run_helm(helm, "template", "df", str(CHART)).stdout) if d],
                "Deployment")
    run_helm(helm, "lint", "--strict", str(CHART))


@pytest.mark.integration
def test_make_chart_package_builds_what_helm_push_takes(helm: str, kube: Kube, tmp_path: Path) -> None:
    """`make chart-package` lints and packages the chart; the .tgz holds everything the chart needs (values
    schema, CRD copy, kopf CRDs, test hook, README) and renders and lints on its own."""
    chart_meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    proc = subprocess.run(["make", "-s", "chart-package", f"CHART_DIST={tmp_path}"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tgz = tmp_path / f"datafoundry-{chart_meta['version']}.tgz"
    assert tgz.is_file(), list(tmp_path.iterdir())
    with tarfile.open(tgz) as tar:
        names = set(tar.getnames())
    for path in ("Chart.yaml", "values.yaml", "values.schema.json", "README.md", "templates/NOTES.txt",
                 "templates/tests/operator-health.yaml", "files/crds/datafoundryjob.yaml"):
        assert f"datafoundry/{path}" in names, path
    assert any(n.startswith("datafoundry/crds/") for n in names)
    docs = [d for d in yaml.safe_load_all(run_helm(helm, "template", "df", str(tgz), "--include-crds").stdout) if d]
    assert CRD_NAME in {d["metadata"]["name"] for d in find(docs, "CustomResourceDefinition")}
    assert deployment_container(docs)["image"] == f"ghcr.io/datafoundry/operator:{chart_meta['appVersion']}"
    run_helm(helm, "lint", "--strict", str(tgz))
    assert "examples/" not in notes(helm, kube, tgz, {})


def test_readme_values_table_and_crd_copy_are_in_sync() -> None:
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "python"), str(REPO / "hack" / "chart-docs.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def rendered_monitoring(helm: str, release: str = "df") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    docs = render(helm, MONITORING, release=release)
    (rule,) = find(docs, "PrometheusRule")
    (cm,) = [c for c in find(docs, "ConfigMap") if c["metadata"]["name"].endswith("-dashboard")]
    return rule["spec"]["groups"], json.loads(cm["data"]["datafoundry.json"])


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel or annotation title, PromQL) with Grafana's variables as Grafana sends them for "All"."""
    subst = {"$__rate_interval": "1m", "$namespace": ".*", "$dfjob": ".*"}
    exprs = [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel.get("targets", [])]
    exprs += [(f"annotation {a['name']}", a["expr"]) for a in dashboard.get("annotations", {}).get("list", [])]
    out = []
    for title, expr in exprs:
        for k, v in subst.items():
            expr = expr.replace(k, v)
        assert "$" not in expr, (title, expr)
        out.append((title, expr))
    return out


def test_dashboard_rows_and_alert_runbooks(helm: str) -> None:
    groups, dashboard = rendered_monitoring(helm)
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == DASHBOARD_ROWS
    assert len(dashboard_queries(dashboard)) >= 30
    # Every per-job query selects by the job's `name` (Prometheus's own `job` label is the scrape's).
    for title, expr in dashboard_queries(dashboard):
        assert "job=" not in expr and "(namespace, job" not in expr, (title, expr)
    alerts = {r["alert"]: r for g in groups for r in g["rules"]}
    assert set(alerts) == ALERTS
    readme = (CHART / "README.md").read_text()
    for name, rule in alerts.items():
        assert f"### {name}\n" in readme, f"runbook section for {name}"
        assert rule["annotations"]["runbook_url"].endswith(f"#{name.lower()}")
        assert rule["labels"]["severity"] in ("warning", "critical")


@pytest.mark.prometheus
def test_promtool_check_rules(helm: str, promtool: str, tmp_path: Path) -> None:
    groups, _ = rendered_monitoring(helm)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in proc.stdout


# ------------------------------------------------------------------------ real helm install
def label_namespace(kube: Kube, ns: str, **labels: str) -> None:
    kube.core.patch_namespace(ns, {"metadata": {"labels": labels}})


def adopt_crd(kube: Kube, release: str, namespace: str) -> None:
    """Let the release take over the test bed's CRD (what a user migrating to the chart does)."""
    if kube.kubectl("get", "crd", CRD_NAME, check=False).returncode != 0:
        return
    kube.kubectl("label", "crd", CRD_NAME, "--overwrite", "app.kubernetes.io/managed-by=Helm")
    kube.kubectl("annotate", "crd", CRD_NAME, "--overwrite", f"meta.helm.sh/release-name={release}",
                 f"meta.helm.sh/release-namespace={namespace}")


def release_crd(kube: Kube) -> None:
    """Hand the kept CRD back (as before `adopt_crd`), so that later installs can adopt it again."""
    kube.kubectl("annotate", "crd", CRD_NAME, "meta.helm.sh/release-name-", "meta.helm.sh/release-namespace-",
                 "helm.sh/resource-policy-", check=False)
    kube.kubectl("label", "crd", CRD_NAME, "app.kubernetes.io/managed-by-", "app.kubernetes.io/instance-",
                 "helm.sh/chart-", check=False)


def can_i(kube: Kube, kubeconfig: Path, verb: str, resource: str, ns: str | None) -> bool:
    scope = ["-n", ns] if ns else ["--all-namespaces"]
    resource, _, sub = resource.partition("/")
    extra = [f"--subresource={sub}"] if sub else []
    proc = subprocess.run([kube.kubectl_bin, "--kubeconfig", str(kubeconfig), "auth", "can-i", verb, resource,
                           *extra, *scope], capture_output=True, text=True)
    return proc.stdout.strip() == "yes"


def as_user(kube: Kube, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([kube.kubectl_bin, "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True)


def rendered_env(kube: Kube, container: dict[str, Any], namespace: str) -> dict[str, str]:
    """The container's env as the kubelet resolves it (values, Secret keys, metadata.name)."""
    out: dict[str, str] = {}
    for var in container["env"]:
        if "value" in var:
            out[var["name"]] = var["value"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            secret = kube.core.read_namespaced_secret(ref["name"], namespace)
            out[var["name"]] = base64.b64decode((secret.data or {})[ref["key"]]).decode()
        elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            out[var["name"]] = "datafoundry-operator-test-0"
    return out


def quickstart(s3: S3, prefix: str, secret: str) -> dict[str, Any]:
    """examples/quickstart.yaml (the manifest hack/kind-e2e.sh runs), pointed at the test bed's S3."""
    job: dict[str, Any] = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    job["spec"]["output"].update({"uri": f"s3://{s3.bucket}/{prefix}quickstart", "endpointURL": s3.endpoint_url,
                                  "credentials": {"secretRef": {"name": secret}}})
    return job


def leftovers(kube: Kube, release: str, namespaces: list[str]) -> list[str]:
    selector = f"app.kubernetes.io/instance={release}"
    found = []
    cluster = kube.kubectl("get", "clusterroles,clusterrolebindings,clusterkopfpeerings", "-l", selector,
                           "-o", "name").stdout.split()
    found.extend(cluster)
    for ns in namespaces:
        found.extend(f"{ns}/{n}" for n in kube.kubectl(
            "get", "deployments,services,serviceaccounts,roles,rolebindings,configmaps,kopfpeerings,networkpolicies",
            "-n", ns, "-l", selector, "-o", "name").stdout.split())
    return found


@pytest.fixture
def release_namespace(kube: Kube) -> Iterator[str]:
    name = f"dfc-{uuid.uuid4().hex[:8]}"
    kube.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(
        name=name, labels={"pod-security.kubernetes.io/enforce": "restricted"})))
    kube.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s")
    try:
        yield name
    finally:
        kube.core.delete_namespace(name)


@pytest.mark.integration
@pytest.mark.prometheus
@pytest.mark.slow
def test_helm_install_namespaced_operator_reconciles_with_chart_identity(
    helm: str, kube: Kube, s3: S3, s3_prefix: str, namespace: str, release_namespace: str,
    pod_runner: PodRunner, prometheus: PrometheusServer, promtool: str,
) -> None:
    release, rel_ns, job_ns = f"dfc{uuid.uuid4().hex[:6]}", release_namespace, namespace
    fullname = f"{release}-datafoundry"
    label_namespace(kube, job_ns, **{"pod-security.kubernetes.io/enforce": "restricted"})
    # The jobs' S3 Secret (pods reference it) and the operator's own copy in its namespace.
    data: dict[str, bytes | str] = {
        k: base64.b64encode(s3.env[k].encode()).decode() for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    for ns in (job_ns, rel_ns):
        kube.core.create_namespaced_secret(ns, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="datafoundry-s3"),
                                                            data=data))
    values = {"operator": {"watchNamespaces": [job_ns], "progressIntervalSeconds": 2,
                           "s3": {"existingSecret": "datafoundry-s3", "endpointURL": s3.endpoint_url}},
              "peering": {"enabled": True}, "crds": {"enabled": True, "keep": True}}
    adopt_crd(kube, release, rel_ns)

    started = time.monotonic()
    run_helm(helm, "install", release, str(CHART), "--namespace", rel_ns, "--kubeconfig", str(kube.kubeconfig),
             "-f", _values_file(values), "--wait", "--timeout", "180s")
    install_seconds = time.monotonic() - started
    installed = True
    op: Operator | None = None
    try:
        docs = render(helm, values, release=release, namespace=rel_ns)
        container = deployment_container(docs)
        sa = f"{fullname}-operator"
        # The chart's operator pod was admitted by the restricted profile and is running (on kwok).
        pods = kube.api.sanitize_for_serialization(  # type: ignore[no-untyped-call]
            kube.core.list_namespaced_pod(rel_ns, label_selector=f"app.kubernetes.io/instance={release}").items)
        assert pods and pods[0]["spec"]["serviceAccountName"] == sa

        # The operator from the rendered Deployment, with the chart's ServiceAccount token.
        tmp = Path(tempfile.mkdtemp(prefix="df-chart-"))
        op_kubeconfig, worker_kubeconfig = tmp / "operator", tmp / "worker"
        write_token_kubeconfig(kube, rel_ns, sa, op_kubeconfig)
        write_token_kubeconfig(kube, job_ns, "datafoundry-worker", worker_kubeconfig)
        args = [a for a in container["args"][1:] if not a.startswith(("--metrics-port", "--health-port", "--bind"))]
        assert f"--namespace={job_ns}" in args and f"--peering={fullname}" in args
        log_dir = REPO / ".local" / "test" / "logs"
        op = Operator.on_free_ports(kube, s3, op_kubeconfig, log_dir / f"chart-operator-{release}.log",
                      extra_args=args, extra_env=rendered_env(kube, container, rel_ns))
        op.start()
        address = op.metrics_url.split("/")[2]
        prometheus.add_target(f"{fullname}-metrics", address, honor_labels=True)

        started = time.monotonic()
        kube.kubectl("apply", "-n", job_ns, "-f", "-",
                     input=json.dumps(quickstart(s3, s3_prefix, "datafoundry-s3")))
        # The same wait as hack/kind-e2e.sh.
        wait = kube.kubectl("wait", "-n", job_ns, "--for=condition=Succeeded", "dfj/quickstart", "--timeout=240s",
                            check=False, timeout=260)
        assert wait.returncode == 0, f"{wait.stderr}\noperator log:\n{op.log_tail()}"
        reconcile_seconds = time.monotonic() - started
        jobs: list[dict[str, Any]] = kube.api.sanitize_for_serialization(  # type: ignore[no-untyped-call]
            kube.batch.list_namespaced_job(job_ns).items)
        assert {j["metadata"]["name"] for j in jobs} >= {"quickstart-gen-r0", "quickstart-publish"}

        # Pods from the chart and from the operator pass the restricted profile (server-side dry run).
        (dep,) = find(docs, "Deployment")
        gen = next(j for j in jobs if j["metadata"]["name"] == "quickstart-gen-r0")
        gen_template = gen["spec"]["template"]
        for name, template in (("chart-operator", dep["spec"]["template"]), ("operator-generator", gen_template)):
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": f"dry-{name}", "labels": template["metadata"].get("labels", {})},
                   "spec": copy.deepcopy(template["spec"])}
            if name == "operator-generator":
                pod["spec"]["containers"][0]["env"] = [e for e in pod["spec"]["containers"][0]["env"]
                                                       if "fieldRef" not in e.get("valueFrom", {})]
            for ns in (job_ns, rel_ns):
                if name == "chart-operator" and ns == job_ns:
                    pod["spec"]["serviceAccountName"] = "datafoundry-worker"
                elif name == "chart-operator":
                    pod["spec"]["serviceAccountName"] = sa
                if name == "operator-generator" and ns == rel_ns:
                    continue
                dry = kube.kubectl("create", "--dry-run=server", "-n", ns, "-f", "-", input=json.dumps(pod),
                                   check=False)
                assert dry.returncode == 0, f"{name} in {ns}: {dry.stderr}"

        # Negative checks with the chart's tokens.
        assert can_i(kube, op_kubeconfig, "list", "datafoundryjobs", job_ns)
        assert can_i(kube, op_kubeconfig, "create", "jobs.batch", job_ns)
        for verb in ("get", "list", "watch"):
            assert not can_i(kube, op_kubeconfig, verb, "secrets", job_ns)
            assert not can_i(kube, op_kubeconfig, verb, "secrets", rel_ns)
        assert not can_i(kube, op_kubeconfig, "list", "datafoundryjobs", None), "namespaced mode: no cluster scope"
        forbidden = as_user(kube, op_kubeconfig, "get", "secrets", "-n", job_ns)
        assert forbidden.returncode != 0 and "forbidden" in forbidden.stderr.lower()
        for verb, resource in [("get", "pods"), ("list", "configmaps"), ("get", "secrets"), ("create", "jobs.batch"),
                               ("get", "datafoundryjobs"), ("patch", "datafoundryjobs/status"), ("create", "events"),
                               ("*", "*")]:
            assert not can_i(kube, worker_kubeconfig, verb, resource, job_ns), (verb, resource)
        forbidden = as_user(kube, worker_kubeconfig, "get", "pods", "-n", job_ns)
        assert forbidden.returncode != 0 and "forbidden" in forbidden.stderr.lower()

        # Prometheus: the operator's series arrived; every panel and alert evaluates without error.
        prometheus.wait_for(f'datafoundry_job_records{{namespace="{job_ns}", name="quickstart", result="accepted"}}',
                            timeout=30)
        time.sleep(3)
        groups, dashboard = rendered_monitoring(helm, release=release)
        empty = []
        for title, expr in dashboard_queries(dashboard):
            if not prometheus.query(expr):  # raises on a PromQL error
                empty.append(title)
        must_have_data = {"Jobs by phase", "Progress per job", "Generated and accepted records",
                          "Rejected records by filter", "Shards by stage and state", "Shards per job",
                          "Reconciles/s by result", "S3 and API retries/s", "Generated tokens/s",
                          "Child Jobs without pods", "Leader and version"}
        assert not must_have_data & set(empty), f"panels without data: {empty}"
        alerts = {r["alert"]: r["expr"] for g in groups for r in g["rules"]}
        for name, expr in alerts.items():
            result = prometheus.query(expr)
            if name == "DataFoundryOperatorDown":
                assert result == [], "the operator is up: the alert's selector must find it"
        loaded = prometheus.add_rule_groups(f"chart-{release}", groups)
        assert {r["name"] for g in loaded for r in g["rules"]} == ALERTS
        assert all(r.get("health") in ("ok", "unknown") for g in loaded for r in g["rules"]), loaded
        metrics_file = tmp / "metrics.txt"
        metrics_file.write_text(op.metrics())
        lint = subprocess.run([promtool, "check", "metrics"], stdin=metrics_file.open(), capture_output=True,
                              text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        print(f"\nhelm install --wait: {install_seconds:.1f}s; quickstart apply -> Succeeded: {reconcile_seconds:.1f}s;"
              f" dashboard queries: {len(dashboard_queries(dashboard))} ({len(empty)} empty: {empty})")

        # `helm test`: the chart's test Pod, run by a test kubelet that maps the operator's Service to this
        # operator's ports (cluster DNS and Service routing), asks it for /healthz and /metrics.
        service = f"{fullname}-metrics.{rel_ns}.svc"
        hooks = PodRunner(kube, REAL_WORKER, services={f"{service}:8080": address,
                                                       f"{service}:8081": op.health_url.split("/")[2]},
                          label_selector=f"app.kubernetes.io/instance={release},app.kubernetes.io/component=test")
        hooks.start()
        try:
            started = time.monotonic()
            proc = run_helm(helm, "test", release, "--namespace", rel_ns, "--kubeconfig", str(kube.kubeconfig),
                            "--timeout", "120s", check=False)
            (run,) = hooks.find(f"{fullname}-test")
            assert proc.returncode == 0, f"{proc.stderr}{proc.stdout}\ntest pod: {run.exit_code} {run.message}"
            assert run.exit_code == 0 and run.args[0] == "check-operator"
            assert "TEST SUITE:" in proc.stdout and "Phase:          Succeeded" in proc.stdout, proc.stdout
            print(f"helm test: {time.monotonic() - started:.1f}s")
        finally:
            hooks.stop()

        # This operator did the work (the shared dev cluster may run other operators), without a 403.
        scrape = op.metrics()
        assert f'datafoundry_job_records{{name="quickstart",namespace="{job_ns}",result="accepted"}}' in scrape
        # Deleting the job runs the finalizer (staging cleanup) with the chart's permissions too.
        kube.kubectl("delete", "dfj", "quickstart", "-n", job_ns, "--wait=true", "--timeout=60s")
        log = op.log_tail(200_000)
        assert "Forbidden" not in log, log[-4000:]
        op.stop()
        prometheus.remove_target(f"{fullname}-metrics")
        started = time.monotonic()
        run_helm(helm, "uninstall", release, "--namespace", rel_ns, "--kubeconfig", str(kube.kubeconfig),
                 "--wait", "--timeout", "120s")
        installed = False
        print(f"helm uninstall --wait: {time.monotonic() - started:.1f}s")
        assert leftovers(kube, release, [rel_ns, job_ns]) == []
        # crds.keep: the CRD (and with it every DataFoundryJob) stays.
        assert kube.kubectl("get", "crd", CRD_NAME, check=False).returncode == 0
    finally:
        if op is not None:
            op.stop()
        if installed:
            run_helm(helm, "uninstall", release, "--namespace", rel_ns, "--kubeconfig", str(kube.kubeconfig),
                     check=False)
        release_crd(kube)
        # No operator watches this namespace any more: let it be deleted.
        for name in kube.kubectl("get", "dfj", "-n", job_ns, "-o", "name", check=False).stdout.split():
            kube.kubectl("patch", name, "-n", job_ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                         check=False)


@pytest.mark.integration
def test_helm_install_cluster_wide_rbac(helm: str, kube: Kube, crd: None, namespace: str,
                                        release_namespace: str) -> None:
    """Cluster-wide mode on the real API server: the ClusterRole reaches every namespace, still no
    Secrets; the worker ServiceAccount can do nothing; uninstall removes the cluster-scoped objects."""
    release, rel_ns = f"dfw{uuid.uuid4().hex[:6]}", release_namespace
    values = {"crds": {"enabled": False}, "replicaCount": 2,
              "workers": {"serviceAccount": {"extraNamespaces": [namespace]}}}
    run_helm(helm, "install", release, str(CHART), "--namespace", rel_ns, "--kubeconfig", str(kube.kubeconfig),
             "-f", _values_file(values), "--timeout", "120s")
    try:
        tmp = Path(tempfile.mkdtemp(prefix="df-chart-"))
        write_token_kubeconfig(kube, rel_ns, f"{release}-datafoundry-operator", tmp / "operator")
        write_token_kubeconfig(kube, namespace, "datafoundry-worker", tmp / "worker")
        assert can_i(kube, tmp / "operator", "watch", "datafoundryjobs", None)
        assert can_i(kube, tmp / "operator", "patch", "clusterkopfpeerings.kopf.dev", None)
        assert can_i(kube, tmp / "operator", "update", "datafoundryjobs/finalizers", namespace)
        assert not can_i(kube, tmp / "operator", "update", "jobs.batch", namespace), "Kueue owns suspend"
        for verb in ("get", "list", "watch"):
            assert not can_i(kube, tmp / "operator", verb, "secrets", None)
        for verb, resource in [("get", "pods"), ("list", "datafoundryjobs"), ("get", "secrets"), ("*", "*")]:
            assert not can_i(kube, tmp / "worker", verb, resource, namespace), (verb, resource)
        peering = kube.kubectl("get", "clusterkopfpeering", f"{release}-datafoundry", check=False)
        assert peering.returncode == 0, peering.stderr
    finally:
        run_helm(helm, "uninstall", release, "--namespace", rel_ns, "--kubeconfig", str(kube.kubeconfig),
                 "--wait", "--timeout", "120s", check=False)
    assert leftovers(kube, release, [rel_ns, namespace]) == []


# ------------------------------------------------------------------------------ umbrella chart
def umbrella_chart(root: Path, values: dict[str, Any]) -> Path:
    """A throwaway umbrella chart with this chart as a `file://` dependency switched by `datafoundry.enabled`."""
    chart_meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    umbrella = root / "platform"
    umbrella.mkdir()
    (umbrella / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "platform", "version": "1.0.0",
        "dependencies": [{"name": "datafoundry", "version": chart_meta["version"], "repository": f"file://{CHART}",
                          "condition": "datafoundry.enabled"}]}))
    (umbrella / "values.yaml").write_text(yaml.safe_dump(values))
    return umbrella


UMBRELLA_VALUES: dict[str, Any] = {
    # Globals of the umbrella: ours, and one of another chart (storageClass) that ours must accept.
    "global": {"imageRegistry": "mirror.example:5000", "imagePullSecrets": ["regcred"], "storageClass": "fast"},
    # The test bed's CRD stays as it is; the umbrella installs everything else.
    "datafoundry": {"enabled": True, "crds": {"enabled": False}, "revisionHistoryLimit": 2},
}


@pytest.mark.integration
def test_umbrella_chart_installs_the_operator(helm: str, kube: Kube, crd: None, namespace: str,
                                             release_namespace: str, tmp_path: Path) -> None:
    """As a dependency of an umbrella chart (`condition: datafoundry.enabled`, umbrella globals): `helm dependency
    build` packages it, the umbrella installs the operator Deployment with the global registry and pull Secret,
    the job the NOTES show is accepted by the API server, and `enabled: false` renders nothing of it."""
    umbrella = umbrella_chart(tmp_path, UMBRELLA_VALUES)
    started = time.monotonic()
    run_helm(helm, "dependency", "build", str(umbrella))
    assert sorted(p.name for p in (umbrella / "charts").iterdir()) == [
        f"datafoundry-{yaml.safe_load((CHART / 'Chart.yaml').read_text())['version']}.tgz"]
    release, rel_ns = f"umb{uuid.uuid4().hex[:6]}", release_namespace
    out = run_helm(helm, "install", release, str(umbrella), "--namespace", rel_ns, "--kubeconfig", str(kube.kubeconfig),
                   "--render-subchart-notes", "--wait", "--timeout", "180s").stdout
    try:
        operator = f"{release}-datafoundry-operator"
        dep = kube.api.sanitize_for_serialization(  # type: ignore[no-untyped-call]
            k8s.AppsV1Api(kube.api).read_namespaced_deployment(operator, rel_ns))
        pod = dep["spec"]["template"]["spec"]
        assert pod["containers"][0]["image"].startswith("mirror.example:5000/datafoundry/operator:")
        assert pod["imagePullSecrets"] == [{"name": "regcred"}]
        assert dep["spec"]["revisionHistoryLimit"] == 2
        assert dep["status"].get("readyReplicas") == 1, dep["status"]
        # The subchart's NOTES: the first job they show passes the real API server's validation.
        job = notes_manifest(out.split("NOTES:\n", 1)[1])
        dry = kube.kubectl("create", "--dry-run=server", "-n", namespace, "-f", "-", input=job, check=False)
        assert dry.returncode == 0, dry.stderr
        print(f"\numbrella: dependency build + install --wait: {time.monotonic() - started:.1f}s")
    finally:
        run_helm(helm, "uninstall", release, "--namespace", rel_ns, "--kubeconfig", str(kube.kubeconfig),
                 "--wait", "--timeout", "120s", check=False)
    assert leftovers(kube, release, [rel_ns]) == []
    # Switched off by the umbrella's condition: nothing of ours renders (not even the kopf CRDs).
    off = run_helm(helm, "template", "umb", str(umbrella), "--include-crds",
                   "--set", "datafoundry.enabled=false").stdout
    assert [d for d in yaml.safe_load_all(off) if d] == []
    on = run_helm(helm, "template", "umb", str(umbrella), "--include-crds").stdout
    assert find([d for d in yaml.safe_load_all(on) if d], "Deployment")
