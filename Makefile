# Wharf: `make run` serves the portal and registry on the embedded default; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test bench lint venv image lock clean

$(VENV)/.installed: requirements-dev.lock
	@scripts/venv.sh $(PYTHON) $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	@touch $@

venv: $(VENV)/.installed

run: venv
	@scripts/run.sh

test: venv
	@scripts/test.sh

bench: venv
	@scripts/bench.sh $(ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy portal registry_api builds scanning

# Regenerate the lock after changing pyproject.toml (needs network access to PyPI).
lock:
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --extra dev --generate-hashes -o requirements-dev.lock

image:
	scripts/build-image.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
