#!/usr/bin/env bash
# Builds the test bed's binaries from Go modules and caches them outside the repository:
#   ~/.cache/datafoundry/controlplane-<k8s>-<go.sum hash>/bin/{controlplane,etcd,kube-*,kubectl}
#   ~/.cache/datafoundry/kwok-<version>/bin/kwok
#   ~/.cache/datafoundry/helm-<version>-<build rev>/bin/helm
# A no-op when they exist. Prints the bin directories, one per line, on stdout when done.
# Override the cache root with DATAFOUNDRY_CACHE.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"
cache=${DATAFOUNDRY_CACHE:-$HOME/.cache/datafoundry}
log() { echo "build-controlplane: $*" >&2; }
# Only a build needs Go: with everything cached the script just prints the folders.
need_go() { command -v go >/dev/null || { log "'go' is not on PATH; install Go >= 1.25"; exit 1; }; }

# `go` names the module it could not get in lines like "go: k8s.io/foo@v1.2.3: reading ...".
explain_failure() {
  local what=$1 logfile=$2
  log "FAILED to build $what. Last lines of $logfile:"
  tail -n 25 "$logfile" >&2
  local mods
  mods=$(grep -oE '[a-zA-Z0-9.-]+\.[a-z]{2,}/[^@ :]+@v[^: ]+' "$logfile" | sort -u | head -5 || true)
  [ -n "$mods" ] && log "module(s) the Go proxy did not serve or failed on: $(echo "$mods" | tr '\n' ' ')"
  exit 1
}

build_controlplane() {
  local sum out minor
  sum=$(cat "$here/controlplane/go.mod" "$here/controlplane/go.sum" "$here/controlplane/main.go" | sha256sum | cut -c1-12)
  out="$cache/controlplane-$K8S_VERSION-$sum"
  if [ -x "$out/bin/controlplane" ]; then echo "$out/bin"; return; fi
  need_go
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  mkdir -p "$out.tmp/bin"
  local logfile="$out.tmp/build.log"
  log "building kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kubectl $K8S_VERSION (cold: ~15-25 min on 2 cores)"
  local vpkgs="k8s.io/component-base/version k8s.io/client-go/pkg/version" ldflags="-s -w" p
  for p in $vpkgs; do
    ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitCommit=datafoundry-testbed -X $p.gitTreeState=clean"
    ldflags+=" -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  if ! (cd "$here/controlplane" && CGO_ENABLED=0 go build -trimpath -tags selinux,notest,grpcnotrace \
        -ldflags "$ldflags" -o "$out.tmp/bin/controlplane" .) >"$logfile" 2>&1; then
    explain_failure "the control plane ($K8S_VERSION)" "$logfile"
  fi
  for p in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    ln -sf controlplane "$out.tmp/bin/$p"
  done
  rm -rf "$out" && mv "$out.tmp" "$out"
  echo "$out/bin"
}

# go install into a versioned cache folder; $1 name, $2 package@version, $3 folder, $4 extra ldflags
go_install() {
  local name=$1 pkg=$2 out=$3 ldflags="-s -w ${4:-}"
  if [ -x "$out/bin/$name" ]; then echo "$out/bin"; return; fi
  need_go
  mkdir -p "$out.tmp/bin"
  log "building $pkg"
  if ! GOBIN="$out.tmp/bin" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "$pkg" >"$out.tmp/build.log" 2>&1; then
    explain_failure "$name" "$out.tmp/build.log"
  fi
  rm -rf "$out" && mv "$out.tmp" "$out"
  echo "$out/bin"
}

# kwok >= 0.8 ships no default Stages; copy the upstream fast node/pod stages next to the binary.
kwok_stages() {
  local out="$cache/kwok-$KWOK_VERSION/stages" dir f
  if [ -s "$out/pod-complete.yaml" ]; then return; fi
  need_go
  dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir/kustomize/stage" ] || { log "kwok $KWOK_VERSION module has no kustomize/stage folder"; exit 1; }
  mkdir -p "$out.tmp"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cp "$dir/kustomize/stage/$f" "$out.tmp/"
  done
  chmod u+w "$out.tmp"/*
  rm -rf "$out" && mv "$out.tmp" "$out"
}

build_kwok() {
  go_install kwok "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "$cache/kwok-$KWOK_VERSION"
  kwok_stages
}

# helm stamped as its release Makefile does: `helm version` names the release, and `helm template` /
# `helm lint` default to the Kubernetes version of helm's client-go (v0.X -> 1.X), not to 1.20.
# Bump HELM_BUILD_REV when these flags change, so that a cached helm built without them is rebuilt.
HELM_BUILD_REV=2
helm_dir() { echo "$cache/helm-$HELM_VERSION-r$HELM_BUILD_REV"; }
build_helm() {
  local out pkg=helm.sh/helm/v3 dir client_go major minor ldflags p
  out=$(helm_dir)
  if [ -x "$out/bin/helm" ]; then echo "$out/bin"; return; fi
  need_go
  dir=$(go mod download -json "$pkg@$HELM_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  # helm's Makefile: client-go v0.37.x -> Kubernetes 1.37.
  client_go=$(sed -n 's/^[[:space:]]*k8s.io\/client-go v\([0-9]*\.[0-9]*\)\..*/\1/p' "$dir/go.mod" | head -1)
  [ -n "$client_go" ] || { log "no k8s.io/client-go in $dir/go.mod"; exit 1; }
  major=$(( ${client_go%.*} + 1 )) minor=${client_go#*.}
  ldflags="-X $pkg/internal/version.version=$HELM_VERSION -X $pkg/internal/version.gitTreeState=clean"
  for p in pkg/lint/rules pkg/chartutil; do
    ldflags+=" -X $pkg/$p.k8sVersionMajor=$major -X $pkg/$p.k8sVersionMinor=$minor"
  done
  go_install helm "$pkg/cmd/helm@$HELM_VERSION" "$out" "$ldflags"
}

what=${1:-all}
case $what in
  controlplane) build_controlplane ;;
  kwok) build_kwok ;;
  helm) build_helm ;;
  all)
    build_kwok
    build_helm
    build_controlplane
    ;;
  *) echo "usage: $0 [all|controlplane|kwok|helm]" >&2; exit 2 ;;
esac
