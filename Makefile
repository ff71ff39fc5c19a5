# One entry point for people and CI. `make run` starts everything locally (no Docker);
# `make test` is what CI runs (.ci/run). Dependencies are installed into .venv only when a
# requirements file changed (the stamp file remembers the last install).

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STAGE ?= dev
BUILD := build
PACKAGE_DIR := $(BUILD)/package
MERGE_TEMPLATE := $(BUILD)/merge-template.json
PYTEST_ARGS ?=

export AWS_EC2_METADATA_DISABLED := true
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test test-all lint unit functional e2e browser-deps package template bench deploy deploy-localstack clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

## run: the whole system at http://127.0.0.1:8000 (moto, demo data); Ctrl-C stops it
run: $(STAMP)
	$(PY) -m local $(RUN_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

## test: lint, then every test but the slow ones (marked ``slow``); unit and functional in
## parallel, e2e in two workers too (a file stays on one worker; each worker starts the shared
## stacks it needs: they spend most of their time waiting on workflow timers, not on the CPU).
## The e2e stage runs alongside the unit + functional one (TEST_OVERLAP=0: one after the other):
## both wait on workflows about half their time, so together they fill two cores; the e2e
## output is printed when both are done.
TEST_OVERLAP ?= 1
UNIT_FUNCTIONAL = $(VENV)/bin/pytest -q -n 2 --dist loadfile --timeout 300 -m "not e2e and not slow" --ignore=tests/e2e $(PYTEST_ARGS)
E2E = $(VENV)/bin/pytest -q -n 2 --dist loadfile --timeout 300 -m "not slow" tests/e2e $(PYTEST_ARGS)
test: $(STAMP) browser-deps lint
ifeq ($(TEST_OVERLAP),1)
	@mkdir -p $(BUILD)
	@$(E2E) > $(BUILD)/e2e.log 2>&1 & e2e=$$!; \
	echo '$(UNIT_FUNCTIONAL)   (and, alongside: $(E2E) > $(BUILD)/e2e.log)'; \
	$(UNIT_FUNCTIONAL); front=$$?; \
	wait $$e2e; back=$$?; \
	echo "--- e2e, run alongside ($(BUILD)/e2e.log) ---"; cat $(BUILD)/e2e.log; \
	test $$front -eq 0 -a $$back -eq 0
else
	$(UNIT_FUNCTIONAL)
	$(E2E)
endif

## test-all: what test runs, plus the slow tests (e.g. the 100k-row streaming-memory check)
test-all: $(STAMP) browser-deps lint
	$(VENV)/bin/pytest -q -n 2 --dist loadfile --timeout 600 -m "not e2e" --ignore=tests/e2e $(PYTEST_ARGS)
	$(VENV)/bin/pytest -q -n 2 --dist loadfile --timeout 600 tests/e2e $(PYTEST_ARGS)

unit functional: $(STAMP)
	$(VENV)/bin/pytest -q -n 2 --dist loadfile tests/$@ $(PYTEST_ARGS)

e2e: $(STAMP)
	$(VENV)/bin/pytest -q -n 2 --dist loadfile tests/e2e $(PYTEST_ARGS)

## browser-deps: Debian chromium for the browser tests (as root, only when missing)
browser-deps:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then \
		true; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	else \
		echo "browser-deps: chromium is missing and this is not a root Debian shell; browser tests may skip"; \
	fi

## template: the --merge-template for `chalice package` (from infra/resources.py)
template: $(STAMP)
	mkdir -p $(BUILD)
	$(PY) -m infra.template --stage $(STAGE) --output $(MERGE_TEMPLATE)

## package: the deployable SAM template + Lambda zip in build/package
package: template
	rm -rf $(PACKAGE_DIR)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(VENV)/bin/chalice package --pkg-format cloudformation --merge-template $(MERGE_TEMPLATE) \
		--stage $(STAGE) $(PACKAGE_DIR)
	$(PY) -m infra.slim $(PACKAGE_DIR)/deployment.zip

## bench: cold import time of the app vs boto3, package size, every bench/*_bench.py
bench: $(STAMP)
	$(PY) -m bench

## deploy: package, then deploy to the AWS account of the current credentials (docs/runbook.md)
##   make deploy STAGE=prod SENDER=no-reply@shop.example ALARM_TOPIC=arn:aws:sns:…  [PUBLIC_BASE_URL=…]
deploy: package
	$(PY) -m infra.deploy --endpoint "" --region $${AWS_REGION:-$${AWS_DEFAULT_REGION:-us-east-1}} --stage $(STAGE) \
		--template $(PACKAGE_DIR)/sam.json --package $(PACKAGE_DIR)/deployment.zip \
		--sender "$(SENDER)" --alarm-topic "$(ALARM_TOPIC)" --public-url "$(PUBLIC_BASE_URL)"

## deploy-localstack: package, then deploy into LocalStack (docker compose -f localstack-compose.yml up -d)
deploy-localstack: package
	AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test $(PY) -m infra.deploy \
		--endpoint $${LOCALSTACK_ENDPOINT:-http://localhost:4566} \
		--template $(PACKAGE_DIR)/sam.json --package $(PACKAGE_DIR)/deployment.zip --stage $(STAGE) \
		--sender no-reply@example.com --alarm-topic arn:aws:sns:us-east-1:000000000000:alarms \
		--public-url $${LOCALSTACK_ENDPOINT:-http://localhost:4566}

clean:
	rm -rf $(BUILD) local/.state
