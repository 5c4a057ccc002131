# The two commands: `make up` runs Maily, `make test` runs every test. Both install
# what they need first (uv into .tools/, then the locked dependencies into .venv/).

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
RUN := $(UV) run --locked --no-sync

.PHONY: up test lint format install system-packages proto web web-check clean

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Maily needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked
	@touch $@

# checkov for the offline deploy checks (tests/deploy), in its own environment: it pins
# boto3, urllib3 and pytest below what Maily uses.
$(TOOLS)/deploy-checks/.synced: deploy/tools/pyproject.toml deploy/tools/uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/$(TOOLS)/deploy-checks $(UV) sync --locked --project deploy/tools
	@touch $@

install: .venv/.synced $(TOOLS)/deploy-checks/.synced

# Chromium (browser tests) and spamd (deliverability checks), from Debian's packages.
system-packages:
	@bash scripts/system-packages

# The web app (web/): a static export in web/out that `maily api` serves at `/`.
# Rebuilt when missing or older than any source, config or lockfile.
NPM := npm --prefix web
WEB_INPUTS := $(shell find web/src web/public -type f 2>/dev/null) \
	$(wildcard web/*.mjs web/*.cjs web/*.json web/*.ts)

# Node.js 20 or newer builds the UI; say so in words when it is missing or older.
NODE_CHECK = @node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null \
	|| { echo "The web UI needs Node.js 20 or newer (found: $$(node --version 2>/dev/null || echo none))" >&2; exit 1; }

web/node_modules/.installed: web/package.json web/package-lock.json
	$(NODE_CHECK)
	$(NPM) ci --no-audit --no-fund
	@touch $@

web/out/index.html: web/node_modules/.installed $(WEB_INPUTS)
	$(NPM) run build
	@touch $@

web: web/out/index.html

# What `make test` checks of web/: a clean install from the lockfile, eslint, tsc, and
# the build (which fails when src/api/schema.d.ts is stale against web/openapi.json).
web-check:
	$(NODE_CHECK)
	$(NPM) ci --no-audit --no-fund
	@touch web/node_modules/.installed
	$(NPM) run lint
	$(NPM) run typecheck
	$(NPM) run build
	@touch web/out/index.html

up: install web
	$(RUN) maily up

test: install system-packages lint web-check
	$(RUN) pytest

lint: install
	$(RUN) ruff check src tests bench migrations
	$(RUN) ruff format --check src tests bench migrations
	$(RUN) mypy

format: install
	$(RUN) ruff check --fix src tests bench migrations
	$(RUN) ruff format src tests bench migrations

# The Python modules of proto/ (gRPC stubs with typed .pyi), committed under src/.
proto: install
	$(RUN) python scripts/generate_proto.py

clean:
	rm -rf .venv $(TOOLS) .pytest_cache .mypy_cache .ruff_cache web/node_modules web/.next web/out
