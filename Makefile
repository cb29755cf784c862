# The two commands: `make run` (everything, on SQLite, with the sandbox) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

# `make run` talks to the sandbox served by the same process.
RUN_ENV := DEBUG=true SANDBOX_ENABLED=true Q_WORKERS=1 \
	PUBLIC_BASE_URL=http://127.0.0.1:$(PORT) \
	RACKBEAT_API_URL=http://127.0.0.1:$(PORT)/sandbox/rackbeat/api/ \
	RACKBEAT_APP_URL=http://127.0.0.1:$(PORT)/sandbox/rackbeat/app/ \
	DINERO_API_URL=http://127.0.0.1:$(PORT)/sandbox/dinero \
	DINERO_APP_URL=http://127.0.0.1:$(PORT)/sandbox/dinero/app/ \
	DINERO_TOKEN_URL=http://127.0.0.1:$(PORT)/sandbox/dinero/oauth/token \
	VISMA_CONNECT_AUTHORIZE_URL=http://127.0.0.1:$(PORT)/sandbox/visma/connect/authorize \
	VISMA_CONNECT_TOKEN_URL=http://127.0.0.1:$(PORT)/sandbox/visma/connect/token \
	DINERO_CLIENT_ID=sandbox-client DINERO_CLIENT_SECRET=sandbox-secret \
	VISMA_CONNECT_CLIENT_ID=isv_sandbox VISMA_CONNECT_CLIENT_SECRET=sandbox-secret

.PHONY: run test chaos chaos-ci install install-dev lint format clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py demo_setup
	@echo "Starting the worker and the web server on http://127.0.0.1:$(PORT)/admin/ (Ctrl-C stops both)"
	@# Worker and web server run in the background and the shell waits for the web server. Ctrl-C
	@# (or SIGTERM) interrupts that wait and the trap stops both: the worker gracefully, bounded by
	@# Q_STOP_SECONDS (10); the web server and its autoreload child at once. Ctrl-C has already
	@# sent the worker SIGINT (the terminal signals the whole group): a second signal would kill it.
	@stop_all() { pkill -TERM -P $$web 2>/dev/null; kill -TERM $$web 2>/dev/null; \
	  if [ "$$1" = TERM ]; then kill -TERM $$worker 2>/dev/null; fi; wait; }; \
	trap 'stop_all INT; exit 0' INT; trap 'stop_all TERM; exit 0' TERM; \
	$(RUN_ENV) $(PY) manage.py qcluster & worker=$$!; \
	$(RUN_ENV) $(PY) manage.py runserver 127.0.0.1:$(PORT) & web=$$!; \
	wait $$web; stop_all TERM

test: install-dev
	DEBUG=true $(PY) -m pytest $(PYTEST_ARGS)

# The chaos suite (docs/chaos.md): real gunicorn + qcluster processes on PostgreSQL (database rd_chaos).
chaos: install-dev
	$(PY) bench/chaos.py --size full --out bench/chaos-full.json

chaos-ci: install-dev
	$(PY) -m pytest tests/chaos -m chaos -s -p no:cacheprovider $(PYTEST_ARGS)

# Collect every user-facing string into locale/{da,sv}, then compile. The sandbox (an emulator of
# Rackbeat and Dinero, not a page of ours), tests and benchmarks are left out; tests/test_translations.py
# fails while any collected string lacks a Danish or Swedish translation.
MESSAGES_ARGS := -l da -l sv --no-obsolete --add-location=file \
	--ignore=.venv --ignore=sandbox --ignore=tests --ignore=bench --ignore=staticfiles --ignore=test-artifacts

messages: install
	DEBUG=true $(PY) manage.py makemessages $(MESSAGES_ARGS)
	DEBUG=true $(PY) manage.py compilemessages --ignore=.venv

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

format: install-dev
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 test-artifacts
