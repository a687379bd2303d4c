# The commands the README documents. `make test` is what CI runs (.ci/run).
PY := .venv/bin
.PHONY: help bootstrap demo down test check docs unit integration e2e bench reconcile-1m lock generate release

## This list: every target with what it does.
help:
	@awk '/^## /{text = text ? text " " substr($$0, 4) : substr($$0, 4); next} /^[a-z0-9-]+:/{if (text) {split($$1, t, ":"); printf "  %-14s %s\n", t[1], text}; text=""}' $(MAKEFILE_LIST)

## Install what the tests and the demo need, and build the servers once (cached in ~/.cache/graphsync).
bootstrap:
	bash hack/bootstrap.sh

## The demo: start every real server, then the operator, whose worker syncs a sample shop into Neo4j.
demo: bootstrap
	$(PY)/graphsync-dev up
	$(PY)/graphsync-dev demo

## Stop the demo's servers.
down:
	$(PY)/graphsync-dev down

## Everything: static checks, the docs site, then the unit, integration and e2e tiers.
test: bootstrap check docs
	$(PY)/pytest tests

## Static checks: ruff, formatting, mypy strict, import contracts.
check:
	$(PY)/ruff check operator dev tests bench
	$(PY)/ruff format --check operator dev tests bench
	$(PY)/mypy
	$(PY)/lint-imports

## The documentation site (docs/, mkdocs.yml), built strictly: a broken link or a missing page fails.
docs:
	# NO_MKDOCS_2_WARNING: Material prints an end-of-life banner on every build otherwise.
	NO_MKDOCS_2_WARNING=1 $(PY)/mkdocs build --strict --site-dir build/site

## One tier of the tests: no servers (unit), real databases (integration), the control plane too (e2e).
unit:
	$(PY)/pytest tests/unit

integration:
	$(PY)/pytest tests/integration

e2e:
	$(PY)/pytest tests/e2e

## Benchmarks (never in CI): snapshot throughput and memory, event latency and rate, graph to graph, files,
## reconciliation against a naive compare, the operator with 500 pipelines.
bench: bootstrap
	$(PY)/python -m bench.snapshot --rows 1000000
	$(PY)/python -m bench.events --rate 1000 --seconds 60 --ramp 4000 12000 20000 24000 28000 32000 36000 40000 --ramp-seconds 15 --backlog 300000
	$(PY)/python -m bench.source_cost --seconds 20 --rounds 3
	$(PY)/python -m bench.graphs --people 100000
	$(PY)/python -m bench.files --files 10000
	$(PY)/python -m bench.reconcile --entities 1000000
	$(PY)/python -m bench.operator --pipelines 500 --steady-seconds 120

## The reconciliation proof at full size: 1,000,000 accounts, 0.1% drift found exactly, repaired, then clean.
reconcile-1m: bootstrap
	GRAPHSYNC_TEST_RECONCILE_ENTITIES=1000000 $(PY)/pytest tests/integration/test_reconcile_scale.py -k large

## Every release artifact into build/release/: the image (an OCI archive), the chart (package and OCI artifact),
## install.yaml pinned to the image's digest, the wheel and sdist, the krew plugin and its manifest. No pushing.
release: bootstrap
	$(PY)/graphsync-dev release --out build/release

## Refresh the lock file after changing dependencies in pyproject.toml.
lock:
	$(PY)/uv pip compile -q pyproject.toml --python-version 3.11 -o requirements/runtime.txt
	$(PY)/uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -c requirements/runtime.txt -o requirements/dev.txt

## Every generated file from its source: the CRDs (API models), the install files (the chart), the GitOps snippet,
## the docs' API reference (the CRDs).
generate:
	$(PY)/graphsync-operator crds --write crds/
	$(PY)/graphsync-operator crds --chart-write charts/graphsync/templates/crds/
	$(PY)/graphsync-dev manifests --write manifests/
	$(PY)/graphsync-dev gitops --write manifests/gitops
	$(PY)/graphsync-dev reference --write docs/reference/api.md
