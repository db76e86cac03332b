# trainsmart: `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export BENTOML_DO_NOT_TRACK := true

.PHONY: install demo test test-all test-postgres bench reliability check manifests audit lock format clean grafana stack

# torch==2.13.0 first: the CPU wheel on this machine; a bare `torch` pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,keras,explain,mlflow,tensorboard]"
	touch $(STAMP)

# also the Debian servers the tests start (redis-server, postgresql, prometheus,
# prometheus-alertmanager, chromium, wrk): installed quietly as root with apt-get when any
# is missing; elsewhere one line names the command (tests/preflight.py)
install: $(STAMP)
	@$(PY) tests/preflight.py --install

demo: install
	$(VENV)/bin/trainsmart demo

# first: which suites will be skipped here and the command that installs their servers
test: install
	@$(PY) tests/preflight.py
	$(PY) -m pytest -q -m "not full" --durations=15

# the state-dependent suites again with every test's state on a real PostgreSQL server
# (tests/postgres.py starts one); tests that open the SQLite file itself (marked sqlite)
# are skipped there. Needs Debian's postgresql: skipped without it, required by test-all.
PG_SUITES := tests/trainsmart tests/monitoring tests/serving tests/e2e tests/reliability
test-postgres: install
	TRAINSMART_TEST_DATABASE=postgresql $(PY) -m pytest -q -m "not full" $(PG_SUITES)

# every suite, including the ones marked `full` (heavier; none yet) and 300 fuzz examples per
# operation (tests/reliability/test_fuzz.py) instead of 25; tests that need an
# external server binary (redis-server, ...) fail here instead of skipping (tests/services.py)
test-all: install
	TRAINSMART_REQUIRE_SERVICES=1 TRAINSMART_FUZZ_EXAMPLES=300 $(PY) -m pytest -q
	TRAINSMART_REQUIRE_SERVICES=1 TRAINSMART_TEST_DATABASE=postgresql $(PY) -m pytest -q \
		$(PG_SUITES)

# docs/benchmarks.md; every HTTP figure is measured with wrk (Debian's package, like redis-server);
# options: make bench BENCH_ARGS="--rounds 1 --seconds 3". The HTTP section alone, quickly:
# $(PY) -m bench.http --out /tmp/http.md [--config SETTINGS] [--rounds 1 --seconds 3]
bench: install
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install -y wrk" >&2; exit 1; }
	$(PY) -m bench.run $(BENCH_ARGS)

# the full load test with faults (20,000 requests), its figures written to docs/reliability.md
reliability: install
	TRAINSMART_REQUIRE_SERVICES=1 TRAINSMART_RELIABILITY_OUT=docs/reliability.md \
		$(PY) -m pytest -q -s tests/reliability/test_load.py

# regenerate the dashboard JSON and the Grafana alert rules (tests/grafana fails when stale)
grafana: install
	$(PY) grafana/board.py
	$(PY) grafana/rules.py

# Prometheus + Alertmanager (+ Grafana if installed) against a running service and monitor;
# options (ports, addresses): make stack STACK_ARGS="--prometheus-port 9091"
stack: install
	$(PY) grafana/stack.py $(STACK_ARGS)

check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(MAKE) manifests
	$(MAKE) audit

# Kubernetes manifests (deploy/kubernetes) and the rendered retrain Job against the
# Kubernetes 1.30 schema, strict (unknown fields fail)
manifests: install
	$(PY) -m deploy.validate

# known vulnerabilities of the locked versions, from PyPI's advisory data (needs network);
# --strict fails when a package cannot be checked rather than report "no known vulnerabilities"
audit: install
	$(VENV)/bin/pip-audit -r requirements.lock --no-deps --disable-pip --strict \
		--progress-spinner off

# requirements.lock: the exact versions `make install` resolved; local labels such as +cpu are
# dropped (advisories name public versions). Regenerate after changing pyproject.toml.
lock: install
	$(PY) -m pip freeze --exclude-editable | sed -E 's/\+[A-Za-z0-9.]+$$//' > requirements.lock

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf .trainsmart runs .pytest_cache .mypy_cache .ruff_cache .hypothesis
