# Two commands do all the set-up on a fresh machine:
#   make run    the service on http://127.0.0.1:5000 with SQLite (instance/separation_guard.sqlite),
#               its background worker and a witness of its trail beside it (Procfile, run by
#               honcho; the witness on PORT+200, keys and storage under instance/); PORT=8080 to move it
#   make test   the full test suite (PostgreSQL tests run where 127.0.0.1:5432 answers)
# Both create .venv (Python 3.11 or 3.12: durable-rules does not import on 3.13) and install
# the project into it from pyproject.toml.

# The first interpreter that really runs and is 3.11 or 3.12 (a pyenv shim may exist but not run).
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))' 2>/dev/null \
	&& { command -v $$p; break; }; done)
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 5000
# `make run` registers this development key (every scope) so the README's curl works as written.
# It is refused in production (SEPARATION_GUARD_ENV=production); create real keys with
# `.venv/bin/separation-guard keys create NAME --scope checks`.
DEV_KEY ?= sg_dev-local-only
STAMP := $(VENV)/.installed
# The TypeScript client check (tests/test_generated_clients.py) needs the node packages pinned in
# clients/typescript/package-lock.json; installed where npm exists, else that test skips.
NPM ?= $(shell command -v npm 2>/dev/null)
NODE_STAMP := clients/typescript/node_modules/.installed

.PHONY: run test bench schemas clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is required (durable-rules does not build on 3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(NODE_STAMP): clients/typescript/package-lock.json
	cd clients/typescript && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

run: $(STAMP)
	SEPARATION_GUARD_DEV_KEY=$(DEV_KEY) VENV=$(VENV) HOST=$(HOST) $(VENV)/bin/honcho start -f Procfile -p $(PORT)

test: $(STAMP) $(if $(NPM),$(NODE_STAMP))
	$(VENV)/bin/python -m pytest

# Regenerate rules/_schemas/ (JSON Schemas for editors and CI) from the marshmallow schemas.
schemas: $(STAMP)
	$(VENV)/bin/python -m service.tools.json_schemas

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_checks.py

clean:
	rm -rf $(VENV) instance .pytest_cache clients/typescript/node_modules
