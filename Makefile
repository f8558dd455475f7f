# Two commands do all the set-up on a fresh machine:
#   make run    the service on http://127.0.0.1:5000 with SQLite (instance/separation_guard.sqlite)
#   make test   the full test suite (PostgreSQL tests run where 127.0.0.1:5432 answers)
# Both create .venv (Python 3.11 or 3.12: durable-rules does not import on 3.13) and install
# the project into it from pyproject.toml.

PYTHON ?= $(shell command -v python3.12 || command -v python3.11)
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 5000
STAMP := $(VENV)/.installed

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is required (durable-rules does not build on 3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/gunicorn --config gunicorn.conf.py --bind $(HOST):$(PORT) wsgi:app

test: $(STAMP)
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_checks.py

clean:
	rm -rf $(VENV) instance .pytest_cache
