# Build entry points. `make test` is what CI runs (via .ci/run).
#
# Tooling is bootstrapped from the project's own pinned files only:
#   .tools/        a venv holding a pinned uv (UV_VERSION)
#   .venv/         the project environment, `uv sync --frozen` from uv.lock
#   node_modules/  buf, `npm ci` from package-lock.json

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
MAKEFLAGS += --no-builtin-rules

PYTHON      ?= python3
UV_VERSION  := 0.13.9

TOOLS       := .tools
VENV        := .venv
NODE_MODULES := node_modules
UV          := $(TOOLS)/bin/uv
VPY         := $(VENV)/bin/python
RUFF        := $(VENV)/bin/ruff
MYPY        := $(VENV)/bin/mypy
PYTEST      := $(VENV)/bin/pytest
BUF         := $(NODE_MODULES)/.bin/buf

UV_STAMP    := $(TOOLS)/.uv-$(UV_VERSION).stamp
VENV_STAMP  := $(VENV)/.sync.stamp
NPM_STAMP   := $(NODE_MODULES)/.npm-ci.stamp

PROTO_DIR   := proto
CLIENT_DIR  := client_py
# Generated modules live at $(CLIENT_DIR)/$(GEN_PKG)/...; protoc sees the proto
# tree under the virtual path $(GEN_PKG)/ so the imports it writes resolve.
GEN_PKG     := executor_client/_gen
GEN_DIR     := $(CLIENT_DIR)/$(GEN_PKG)
PROTO_FILES := $(sort $(shell cd $(PROTO_DIR) && find . -name '*.proto' | sed 's|^\./||'))

# Never let uv download an interpreter or pick up an unrelated environment.
UV_ENV      := UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=$(VENV) VIRTUAL_ENV=
PYTEST_ARGS ?=
ARGS        ?=

.PHONY: install run proto check-proto lint lint-py lint-proto breaking test fuzz fmt clean bench audit

# ----------------------------------------------------------------- install

install: $(VENV_STAMP) $(NPM_STAMP)

$(UV_STAMP):
	rm -rf $(TOOLS)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	touch $@

$(VENV_STAMP): $(UV_STAMP) uv.lock pyproject.toml $(CLIENT_DIR)/pyproject.toml
	$(UV_ENV) $(UV) sync --frozen --all-groups --python $(PYTHON)
	touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# ----------------------------------------------------------------- run

run: install
	$(VENV)/bin/executor serve $(ARGS)

# ----------------------------------------------------------------- codegen

proto: $(VENV_STAMP)
	rm -rf $(GEN_DIR)
	mkdir -p $(GEN_DIR)
	cd $(CLIENT_DIR) && ../$(VPY) -m grpc_tools.protoc \
		--proto_path=$(GEN_PKG)=../$(PROTO_DIR) \
		--proto_path="$$(../$(VPY) -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')" \
		--python_out=. --pyi_out=. --grpc_python_out=. \
		$(addprefix $(GEN_PKG)/,$(PROTO_FILES))
	find $(GEN_DIR) -type d | while read -r d; do : > "$$d/__init__.py"; done

# Regenerates and fails if the committed generated code differs (or new
# generated files are not tracked). Staged-but-uncommitted files count as tracked.
check-proto: proto
	git diff --exit-code --stat -- $(GEN_DIR) \
		|| { echo "error: $(GEN_DIR) is out of date: run 'make proto' and commit the result" >&2; exit 1; }
	drift="$$(git status --porcelain --untracked-files=all -- $(GEN_DIR) | grep -v '^[MADRC] ' || true)"; \
	if [ -n "$$drift" ]; then \
		echo "$$drift" >&2; \
		echo "error: $(GEN_DIR) has untracked or modified generated files: run 'make proto' and commit them" >&2; \
		exit 1; \
	fi

# ----------------------------------------------------------------- lint

lint-py: $(VENV_STAMP)
	$(UV_ENV) $(UV) lock --check --python $(PYTHON)
	$(RUFF) check .
	$(RUFF) format --check .
	$(MYPY)

lint-proto: $(NPM_STAMP)
	$(BUF) lint

lint: lint-py lint-proto check-proto

# Breaking-change check against the proto on branch main (skipped while main
# has no proto to compare against). Not part of `test` yet.
breaking: $(NPM_STAMP)
	@if git rev-parse --verify --quiet main >/dev/null \
		&& [ -n "$$(git ls-tree -r --name-only main -- $(PROTO_DIR) | grep '\.proto$$' || true)" ]; then \
		echo "$(BUF) breaking $(PROTO_DIR) --against '.git#branch=main,subdir=$(PROTO_DIR)'"; \
		$(BUF) breaking $(PROTO_DIR) --against '.git#branch=main,subdir=$(PROTO_DIR)'; \
	else \
		echo "breaking: branch main has no $(PROTO_DIR)/*.proto yet; skipping"; \
	fi

# ----------------------------------------------------------------- test

test: install
	$(MAKE) --no-print-directory lint
	$(PYTEST) $(PYTEST_ARGS)
	$(MAKE) --no-print-directory audit

# The outside probe of tests/test_fuzz_rpc.py, longer and with fresh random examples each
# run (`make test` runs it briefly, the same examples every time).
FUZZ_EXAMPLES ?= 3000

fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 $(PYTEST) tests/test_fuzz_rpc.py --timeout 3600 $(PYTEST_ARGS)

# ----------------------------------------------------------------- audit

# Every package uv.lock pins against the PyPI advisory database (pip-audit): fails on a known
# vulnerability not accepted in audit-accepted.txt; skipped, saying why, when the database
# cannot be reached (AUDIT_REQUIRED=1 fails then instead).
audit: $(VENV_STAMP)
	$(VPY) scripts/audit.py

# ----------------------------------------------------------------- bench

# The benchmark suite: prints the table and writes bench/results.json (BENCHMARKS.md says
# how to read it). BENCH_ARGS=--quick for a smoke run, --profile for engine profiles.
BENCH_ARGS ?=

bench: install
	$(VPY) -m bench.run $(BENCH_ARGS)

fmt: $(VENV_STAMP)
	$(RUFF) format .
	$(RUFF) check --fix .

clean:
	rm -rf $(TOOLS) $(VENV) $(NODE_MODULES) .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -name __pycache__ -type d -not -path './.git/*' -prune -exec rm -rf {} +
