#!/usr/bin/env bash
# Build the three Data Foundry images (operator, filter, generator) with Docker/BuildKit.
#
#   hack/build-images.sh [operator|filter|generator ...]   default: all three
#
# REGISTRY (default ghcr.io/datafoundry) and TAG (default: the version in pyproject.toml) name the
# images: $REGISTRY/<image>:$TAG, what the chart uses with image.registry/repository/tag.
# PUSH=1 pushes them. Needs a Docker engine; says so clearly where there is none.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
registry="${REGISTRY:-ghcr.io/datafoundry}"
tag="${TAG:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -n1)}"
images=("$@")
[[ ${#images[@]} -gt 0 ]] || images=(operator filter generator)

if ! command -v docker >/dev/null 2>&1; then
  echo "build-images: no docker command on this machine; install Docker (or run in CI) to build images" >&2
  exit 2
fi
if ! docker info >/dev/null 2>&1; then
  echo "build-images: the docker command cannot reach a Docker engine (is the daemon running?);" \
       "images cannot be built here" >&2
  exit 2
fi

for image in "${images[@]}"; do
  dockerfile="$repo/images/$image/Dockerfile"
  [[ -f $dockerfile ]] || { echo "build-images: unknown image '$image' (no $dockerfile)" >&2; exit 2; }
  ref="$registry/$image:$tag"
  echo "build-images: $ref" >&2
  DOCKER_BUILDKIT=1 docker build --file "$dockerfile" --tag "$ref" \
    --label "org.opencontainers.image.version=$tag" \
    --label "org.opencontainers.image.revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)" \
    "$repo"
  if [[ ${PUSH:-0} == 1 ]]; then
    docker push "$ref"
  fi
  echo "$ref"
done
