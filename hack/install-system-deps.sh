#!/usr/bin/env bash
# Install the Debian packages the test bed needs (Debian 12 / Ubuntu).
#
#   prometheus  -> /usr/bin/prometheus, /usr/bin/promtool (tests/fixtures/prometheus.py)
#   openssl     -> /usr/bin/openssl
#
# Idempotent: a fast no-op when every command is already present; `apt-get update` runs only
# when something is missing. The package's own service (prometheus on :9090) is never left
# running: service starts are blocked during the install with a temporary policy-rc.d, and any
# prometheus the package still managed to start is stopped afterwards. The tests start their own
# server on a free loopback port.
set -euo pipefail

# command -> Debian package that provides it
declare -A PROVIDES=(
  [prometheus]=prometheus
  [promtool]=prometheus
  [openssl]=openssl
)

missing=()
for cmd in "${!PROVIDES[@]}"; do
  pkg=${PROVIDES[$cmd]}
  if ! command -v "$cmd" >/dev/null 2>&1; then
    case " ${missing[*]} " in
      *" $pkg "*) ;;
      *) missing+=("$pkg") ;;
    esac
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-system-deps: all present (prometheus, promtool, openssl)"
  exit 0
fi

echo "install-system-deps: installing: ${missing[*]}"

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: apt-get not found; install these packages by hand: ${missing[*]}" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-system-deps: not root and sudo is not available;" \
      "install these Debian packages as root: ${missing[*]}" >&2
    exit 1
  fi
fi

# PIDs of prometheus processes running before we touch anything: never ours to stop.
prometheus_pids() { pgrep -x prometheus 2>/dev/null || true; }
before_pids=" $(prometheus_pids | tr '\n' ' ') "

# Block service starts from maintainer scripts (honoured by invoke-rc.d and deb-systemd-invoke)
# unless the machine already has a policy-rc.d (containers usually do); ours is removed on exit.
POLICY=/usr/sbin/policy-rc.d
own_policy=0
cleanup() {
  if [ "$own_policy" -eq 1 ]; then
    "${SUDO[@]}" rm -f "$POLICY"
  fi
}
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# temporary, from datafoundry hack/install-system-deps.sh\nexit 101\n' \
    | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  own_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  "${missing[@]}"

cleanup
own_policy=0

# If the package started its daemon anyway, stop it (and keep it from starting at boot).
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  if systemctl is-active --quiet prometheus.service 2>/dev/null; then
    echo "install-system-deps: stopping and disabling the packaged prometheus.service (:9090)"
    "${SUDO[@]}" systemctl stop prometheus.service || true
    "${SUDO[@]}" systemctl disable prometheus.service || true
  fi
fi
for pid in $(prometheus_pids); do
  case "$before_pids" in
    *" $pid "*) continue ;;
  esac
  echo "install-system-deps: stopping prometheus pid $pid started by the package install"
  "${SUDO[@]}" kill "$pid" 2>/dev/null || true
done
for _ in 1 2 3 4 5 6 7 8 9 10; do
  left=0
  for pid in $(prometheus_pids); do
    case "$before_pids" in
      *" $pid "*) ;;
      *) left=1 ;;
    esac
  done
  [ "$left" -eq 0 ] && break
  sleep 0.5
done

for cmd in "${!PROVIDES[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "install-system-deps: $cmd still missing after install (package ${PROVIDES[$cmd]})" >&2
    exit 1
  fi
done
echo "install-system-deps: done ($(prometheus --version 2>&1 | head -n1))"
