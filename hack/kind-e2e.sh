#!/usr/bin/env bash
# End to end on kind, for people with Docker (the project's own test bed has no Docker engine and
# runs the same chart, example and wait in tests/integration/test_chart.py instead).
#
#   hack/kind-e2e.sh            kind cluster, build + load the three images, in-cluster S3
#                               (SeaweedFS), helm install charts/datafoundry, apply the example,
#                               kubectl wait --for=condition=Succeeded dfj/NAME
#
# Environment:
#   EXAMPLE=examples/quickstart.yaml   the manifest to run (its spec.output is pointed at the S3)
#   WAIT_CONDITION=Succeeded           e.g. Accepted on runners without a GPU: the generator pods
#                                      need nvidia.com/gpu, so Succeeded needs a GPU node
#   TIMEOUT=2h                         for the wait
#   KUEUE=1                            install Kueue ($KUEUE_VERSION) and run the job through a queue
#   CLUSTER=datafoundry-e2e  KEEP=1 (keep the cluster)  TAG=e2e
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster="${CLUSTER:-datafoundry-e2e}"
example="${EXAMPLE:-$repo/examples/quickstart.yaml}"
condition="${WAIT_CONDITION:-Succeeded}"
timeout="${TIMEOUT:-2h}"
tag="${TAG:-e2e}"
kueue_version="${KUEUE_VERSION:-v0.14.1}"
seaweedfs_image="${SEAWEEDFS_IMAGE:-chrislusf/seaweedfs:4.48}"
ns=datafoundry-e2e
system_ns=datafoundry-system
s3_key=datafoundry-e2e
s3_secret="e2e-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

log() { printf 'kind-e2e: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

for tool in docker kind kubectl helm python3; do
  command -v "$tool" >/dev/null 2>&1 || die "needs '$tool' on PATH"
done
docker info >/dev/null 2>&1 || die "no Docker engine reachable (kind needs one); this cannot run here"

cleanup() {
  if [[ -n ${pf_pid:-} ]]; then kill "$pf_pid" 2>/dev/null || true; fi
  if [[ ${KEEP:-0} != 1 ]]; then kind delete cluster --name "$cluster" >/dev/null 2>&1 || true; fi
}
dump() {
  log "failed; state of the cluster:"
  kubectl get dfj,jobs,pods -A -o wide || true
  kubectl -n "$ns" describe dfj || true
  kubectl -n "$system_ns" logs deployment/datafoundry-operator --tail=200 || true
}
trap cleanup EXIT
trap dump ERR

# 1. Cluster and images ------------------------------------------------------------------------
kind get clusters | grep -qx "$cluster" || kind create cluster --name "$cluster" --wait 120s
kubectl config use-context "kind-$cluster" >/dev/null
REGISTRY=ghcr.io/datafoundry TAG="$tag" "$repo/hack/build-images.sh" operator filter generator
for image in operator filter generator; do
  kind load docker-image --name "$cluster" "ghcr.io/datafoundry/$image:$tag"
done

# 2. Kueue (optional) ----------------------------------------------------------------------------
queue=""
if [[ ${KUEUE:-0} == 1 ]]; then
  log "installing Kueue $kueue_version"
  kubectl apply --server-side -f "https://github.com/kubernetes-sigs/kueue/releases/download/$kueue_version/manifests.yaml"
  kubectl -n kueue-system rollout status deployment/kueue-controller-manager --timeout=300s
  queue=datafoundry
fi

# 3. S3 in the cluster -----------------------------------------------------------------------------
# The jobs' Secret in $ns; the operator's own copy in $system_ns (its pod references it).
for namespace in "$ns" "$system_ns"; do
  kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f -
  kubectl -n "$namespace" create secret generic datafoundry-s3 --dry-run=client -o yaml \
    --from-literal=AWS_ACCESS_KEY_ID="$s3_key" --from-literal=AWS_SECRET_ACCESS_KEY="$s3_secret" | kubectl apply -f -
done
kubectl -n "$ns" create secret generic s3-identities --dry-run=client -o yaml \
  --from-literal=s3.json="{\"identities\":[{\"name\":\"e2e\",\"credentials\":[{\"accessKey\":\"$s3_key\",\"secretKey\":\"$s3_secret\"}],\"actions\":[\"Admin\",\"Read\",\"Write\",\"List\",\"Tagging\"]}]}" \
  | kubectl apply -f -
kubectl -n "$ns" apply -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: s3}
spec:
  selector: {matchLabels: {app: s3}}
  template:
    metadata: {labels: {app: s3}}
    spec:
      containers:
        - name: weed
          image: $seaweedfs_image
          args: [server, -dir=/data, -s3, -s3.port=8333, -s3.config=/etc/s3/s3.json]
          ports: [{containerPort: 8333}]
          volumeMounts: [{name: data, mountPath: /data}, {name: cfg, mountPath: /etc/s3}]
      volumes:
        - {name: data, emptyDir: {}}
        - {name: cfg, secret: {secretName: s3-identities}}
---
apiVersion: v1
kind: Service
metadata: {name: s3}
spec: {selector: {app: s3}, ports: [{port: 8333, targetPort: 8333}]}
YAML
kubectl -n "$ns" rollout status deployment/s3 --timeout=300s
kubectl -n "$ns" port-forward svc/s3 18333:8333 >/dev/null 2>&1 &
pf_pid=$!
env_file="$(mktemp)"
printf 'AWS_ENDPOINT_URL=http://127.0.0.1:18333\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nS3_BUCKET=datafoundry\n' \
  "$s3_key" "$s3_secret" >"$env_file"
for _ in $(seq 60); do python3 "$repo/hack/s3-bucket.py" "$env_file" 2>/dev/null && break; sleep 2; done
python3 "$repo/hack/s3-bucket.py" "$env_file"
rm -f "$env_file"

# 4. The chart ------------------------------------------------------------------------------------
started=$(date +%s)
helm upgrade --install datafoundry "$repo/charts/datafoundry" --namespace "$system_ns" \
  --set image.tag="$tag" --set workers.generator.image.tag="$tag" --set workers.filter.image.tag="$tag" \
  --set image.pullPolicy=Never --set operator.s3.existingSecret=datafoundry-s3 --set-json "workers.serviceAccount.extraNamespaces=[\"$ns\"]" \
  --wait --timeout 5m
log "helm install took $(( $(date +%s) - started ))s"

if [[ -n $queue ]]; then
  kubectl apply -f - <<YAML
apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: default}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata: {name: datafoundry}
spec:
  namespaceSelector: {}
  resourceGroups:
    - coveredResources: [cpu, memory, nvidia.com/gpu]
      flavors: [{name: default, resources: [{name: cpu, nominalQuota: 64}, {name: memory, nominalQuota: 512Gi}, {name: nvidia.com/gpu, nominalQuota: 8}]}]
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: LocalQueue
metadata: {name: $queue, namespace: $ns}
spec: {clusterQueue: datafoundry}
YAML
fi

# 5. The example, pointed at the in-cluster S3 (and the queue) -------------------------------------
name="$(kubectl create --dry-run=client -f "$example" -o jsonpath='{.metadata.name}')"
kubectl create --dry-run=client -f "$example" -o json \
  | QUEUE="$queue" python3 -c '
import json, os, sys
job = json.load(sys.stdin)
out = job["spec"]["output"]
out["endpointURL"] = "http://s3.datafoundry-e2e.svc:8333"
if os.environ["QUEUE"]:
    job["spec"]["queueName"] = os.environ["QUEUE"]
json.dump(job, sys.stdout)
' | kubectl -n "$ns" apply -f -

# The same wait as the local end-to-end tests (tests/integration/test_chart.py).
log "waiting up to $timeout for dfj/$name to be $condition"
kubectl -n "$ns" wait --for="condition=$condition" "dfj/$name" --timeout="$timeout"
kubectl -n "$ns" get dfj "$name"
log "ok: dfj/$name is $condition"
