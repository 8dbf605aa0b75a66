#!/usr/bin/env bash
# Builds the Kueue controller from the Go module proxy and caches it outside the repository:
#   ~/.cache/datafoundry/kueue-<version>/bin/kueue
#   ~/.cache/datafoundry/kueue-<version>/config/{crd,webhook}/   (the module's config/components/{crd,webhook})
# The CRDs and webhook configurations come from the same module zip as the binary, so they always
# match it. A no-op when the folder exists. Prints the folder on stdout when done.
# Override the cache root with DATAFOUNDRY_CACHE; the version is KUEUE_VERSION in hack/versions.env.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"
cache=${DATAFOUNDRY_CACHE:-$HOME/.cache/datafoundry}
out="$cache/kueue-$KUEUE_VERSION"
log() { echo "build-kueue: $*" >&2; }
command -v go >/dev/null || { log "'go' is not on PATH; install Go >= 1.25"; exit 1; }

if [ -x "$out/bin/kueue" ] && [ -s "$out/config/webhook/manifests.yaml" ]; then echo "$out"; exit 0; fi
rm -rf "$out.tmp" && mkdir -p "$out.tmp/bin" "$out.tmp/config"
logfile="$out.tmp/build.log"
log "building sigs.k8s.io/kueue $KUEUE_VERSION (cold: ~6 min on 2 cores)"
start=$SECONDS
dir=$(go mod download -json "sigs.k8s.io/kueue@$KUEUE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir/config/components/crd/bases" ] && [ -s "$dir/config/components/webhook/manifests.yaml" ] \
  || { log "kueue $KUEUE_VERSION module has no config/components/{crd/bases,webhook}"; exit 1; }
# With internalCertManagement off, cmd/kueue/main.go reads the metrics server's certificate from the
# fixed path /etc/kueue/metrics/certs (a Secret mounted in its pod) and exits when it is missing; a
# test bed process may not write /etc. So the build runs in a copy of the module (go refuses overlays
# of files in the module cache) whose main.go lets the environment variable KUEUE_METRICS_CERT_DIR
# name the folder; unset, the path is upstream's. Nothing else differs from the published module.
src="$out.tmp/src"
cp -r "$dir" "$src" && chmod -R u+w "$src"
main="$src/cmd/kueue/main.go"
grep -q 'metricsCertPath := "/etc/kueue/metrics/certs"' "$main" \
  || { log "$main no longer sets metricsCertPath as expected: update $0"; exit 1; }
sed -i 's|metricsCertPath := "/etc/kueue/metrics/certs"|metricsCertPath := func() string { if d := os.Getenv("KUEUE_METRICS_CERT_DIR"); d != "" { return d }; return "/etc/kueue/metrics/certs" }()|' \
  "$main"
if ! (cd "$src" && GOWORK=off CGO_ENABLED=0 go build -mod=mod -trimpath \
      -ldflags "-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$KUEUE_VERSION" \
      -o "$out.tmp/bin/kueue" ./cmd/kueue) >"$logfile" 2>&1; then
  log "FAILED to build kueue $KUEUE_VERSION. Last lines of $logfile:"
  tail -n 25 "$logfile" >&2
  exit 1
fi
rm -rf "$src"
cp -r "$dir/config/components/crd" "$out.tmp/config/crd"
mkdir -p "$out.tmp/config/webhook"
cp "$dir/config/components/webhook/manifests.yaml" "$out.tmp/config/webhook/"
chmod -R u+w "$out.tmp/config"
log "built in $((SECONDS - start))s"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
