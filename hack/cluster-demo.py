#!/usr/bin/env python3
"""`make cluster-demo`: the quickstart on a real local control plane, then tear it all down.

1. `hack/local-up.sh up` in .local/cluster-demo: etcd, kube-apiserver (RBAC on), controller
   manager, scheduler, kwok GPU/CPU nodes and SeaweedFS S3.
2. Installs the CRD, the operator's least-privilege RBAC and ServiceAccount, and runs
   `datafoundry operator` under that identity.
3. Runs the test pod runner (datafoundry.testing.podrunner): kwok nodes run no containers, so each
   worker pod's real command, args and env run as a local process, with SmolLM2-135M-Instruct on CPU.
4. `kubectl apply` of examples/quickstart.yaml (model: SmolLM2-135M-Instruct; output: the local S3),
   then `kubectl get dfj -w` until the job is Succeeded or Failed.
5. Prints the manifest and a record, and tears everything down (also on Ctrl-C).

    .venv/bin/python hack/cluster-demo.py --model "$(.venv/bin/python hack/make-smollm2-model.py)" [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import yaml
from kubernetes import client as k8s

from datafoundry.engines.server import vllm_cpu_env
from datafoundry.testing.podrunner import REAL_WORKER, PodRunner
from datafoundry.testing.running_operator import (
    S3_SECRET,
    Operator,
    install_crd,
    prepare_job_namespace,
    setup_operator_rbac,
)
from datafoundry.testing.testbed import S3, connect_local

REPO = Path(__file__).resolve().parents[1]

NAMESPACE = "demo"


def say(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def quickstart(model: str, s3: S3) -> dict[str, object]:
    doc = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    spec = doc["spec"]
    spec["generator"]["model"] = model
    spec["output"].update({"uri": f"s3://{s3.bucket}/quickstart", "endpointURL": s3.endpoint_url,
                           "credentials": {"secretRef": {"name": S3_SECRET}}})
    return doc  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model directory (SmolLM2-135M-Instruct, make model)")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds to wait for the job")
    parser.add_argument("--keep", action="store_true", help="leave the control plane up afterwards")
    args = parser.parse_args()

    local = Path(os.environ.get("LOCAL_DIR", REPO / ".local" / "cluster-demo"))
    env = {**os.environ, "LOCAL_DIR": str(local)}
    local_up = str(REPO / "hack" / "local-up.sh")
    say(f"bringing the local control plane up in {local}")
    subprocess.run([local_up, "up"], env=env, check=True)
    op: Operator | None = None
    runner: PodRunner | None = None
    rc = 1
    try:
        kubeconfig = local / "kubeconfig"
        kubectl = str(local / "kubectl")
        kube, s3 = connect_local(local)
        subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), "get", "nodes", "-L", "nvidia.com/gpu.product"],
                       check=False)

        say("installing the CRD, the operator's RBAC, and starting the operator under its ServiceAccount")
        install_crd(kube)
        op = Operator.on_free_ports(kube, s3, setup_operator_rbac(kube), local / f"operator-{uuid.uuid4().hex[:6]}.log")
        op.start()
        try:
            kube.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=NAMESPACE)))
        except k8s.ApiException as e:
            if e.status != 409:
                raise
        kube.kubectl("wait", "--for=create", "serviceaccount/default", "-n", NAMESPACE, "--timeout=60s")
        prepare_job_namespace(kube, s3, NAMESPACE)
        runner = PodRunner(kube, REAL_WORKER, extra_env=vllm_cpu_env({}), max_parallel=2).start()

        say(f"kubectl apply -n {NAMESPACE} -f examples/quickstart.yaml  (model: {args.model})")
        kube.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=yaml.safe_dump(quickstart(args.model, s3)))
        say(f"kubectl get dfj -n {NAMESPACE} -w")
        watch = subprocess.Popen([kubectl, "--kubeconfig", str(kubeconfig), "get", "dfj", "-n", NAMESPACE, "-w"])
        deadline = time.monotonic() + args.timeout
        phase = None
        try:
            while time.monotonic() < deadline and phase not in ("Succeeded", "Failed"):
                time.sleep(1)
                out = kube.kubectl("get", "dfj", "quickstart", "-n", NAMESPACE, "-o", "jsonpath={.status.phase}",
                                   check=False).stdout
                phase = out.strip() or None
            time.sleep(1.5)  # let the watch print the last row
        finally:
            watch.terminate()
            watch.wait(timeout=10)
        if phase != "Succeeded":
            say(f"the job did not succeed (phase {phase}); conditions and operator log:")
            print(kube.kubectl("get", "dfj", "quickstart", "-n", NAMESPACE, "-o",
                               "jsonpath={.status.conditions}", check=False).stdout)
            print(op.log_tail())
            return 1
        status = json.loads(kube.kubectl("get", "dfj", "quickstart", "-n", NAMESPACE, "-o",
                                         "jsonpath={.status}").stdout)
        manifest = json.loads(s3.client.get_object(Bucket=s3.bucket, Key="quickstart/manifest.json")["Body"].read())
        first = s3.client.get_object(Bucket=s3.bucket, Key=f"quickstart/{manifest['shards'][0]['key']}")
        say(f"published {status['output']['records']} records to {status['output']['uri']} "
            f"({len(manifest['shards'])} shard(s), manifest.json, README.md)")
        print("funnel:", json.dumps(status["progress"].get("rejected", {})))
        print("first record:", first["Body"].read().decode().splitlines()[0][:400])
        rc = 0
    finally:
        if runner is not None:
            runner.stop()
        if op is not None:
            op.stop()
        if args.keep:
            say(f"left up: export KUBECONFIG={local}/kubeconfig; stop it with LOCAL_DIR={local} hack/local-up.sh down")
        else:
            say("tearing down")
            subprocess.run([local_up, "down"], env=env, check=False)
    return rc


if __name__ == "__main__":
    sys.exit(main())
