# Wharf: `make run` serves the portal and registry on the embedded default; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check --require-hashes

.PHONY: run test bench lint venv dev image lock clean

# Two stamps, each redone when its lock changes: `make run` installs only the application (requirements.lock);
# `make test`, `make lint` and `make bench` add the development tools (requirements-dev.lock: pytest,
# Playwright, ruff, mypy…) on top.
$(VENV)/.runtime: requirements.lock
	@scripts/venv.sh $(PYTHON) $(VENV)
	$(PIP_INSTALL) -r requirements.lock
	@touch $@

$(VENV)/.dev: requirements-dev.lock $(VENV)/.runtime
	$(PIP_INSTALL) -r requirements-dev.lock
	@touch $@

venv: $(VENV)/.runtime

dev: $(VENV)/.dev

run: venv
	@scripts/run.sh

test: dev
	@scripts/test.sh

bench: dev
	@scripts/bench.sh $(ARGS)

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy portal registry_api builds scanning notifications

# Regenerate the lock after changing pyproject.toml (needs network access to PyPI).
lock:
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --extra dev --generate-hashes -o requirements-dev.lock

image:
	scripts/build-image.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
