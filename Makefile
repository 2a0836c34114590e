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

.PHONY: install run proto check-proto lint lint-py lint-proto breaking test fuzz fmt clean bench \
	postgres nginx cluster audit

# ----------------------------------------------------------------- install

install: $(VENV_STAMP) $(NPM_STAMP)

$(UV_STAMP):
	rm -rf $(TOOLS)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	touch $@

# Tool plugins of your own, one requirement per line (a path, a wheel, `name==version`):
# `uv sync` keeps .venv exactly as the lock says, so they are installed again after
# every sync (`make plugins`). The file is yours (git ignores it).
PLUGINS     ?= plugins.txt

$(VENV_STAMP): $(UV_STAMP) uv.lock pyproject.toml $(CLIENT_DIR)/pyproject.toml $(wildcard $(PLUGINS))
	$(UV_ENV) $(UV) sync --frozen --all-groups --python $(PYTHON)
	$(MAKE) --no-print-directory plugins
	touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# ----------------------------------------------------------------- run

# Serving needs only the Python environment: Node/npm (for buf) is for linting.
run: $(VENV_STAMP)
	$(VENV)/bin/executor serve $(ARGS)

# ----------------------------------------------------------------- plugins

.PHONY: plugins
plugins:
	@if [ -f $(PLUGINS) ]; then \
		echo "installing the tool plugins listed in $(PLUGINS)"; \
		$(UV_ENV) $(UV) pip install --python $(VPY) -r $(PLUGINS); \
	fi

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

# ----------------------------------------------------------------- clients (Go, TypeScript, Java)
#
# `make stubs` regenerates every language from proto/: Python (`make proto`), then Go,
# TypeScript and Java with `buf generate` (buf.gen.yaml, local plugins only), and the
# descriptor set the server's reflection serves (with the proto's comments). Every
# generator is pinned here and installed into the project's own directories:
#   .tools/go/bin/   protoc-gen-go, protoc-gen-go-grpc, grpcurl, ghz  (go install, module proxy)
#   .tools/protoc/   protoc and protoc-gen-grpc-java                   (Maven Central)
#   client_ts/node_modules/  protoc-gen-es, tsc   (npm ci from client_ts/package-lock.json)

GO                         ?= go
MVN                        ?= mvn
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPCURL_VERSION            := v1.9.3
GHZ_VERSION                := v0.120.0
PROTOC_VERSION             := 4.36.2
# Maven Central did not serve the linux-x86_64 binaries of 1.84.0 and 1.85.0 when this was
# pinned; code generated by 1.82 runs on the 1.85 runtime (client_java/pom.xml).
GRPC_JAVA_PLUGIN_VERSION   := 1.82.0
MVN_FLAGS                  := -B -q
# Debian's Maven 3.8 prints colour resets even in batch mode.
MVN_NO_ANSI                := | sed -u 's/\x1b\[[0-9;]*m//g'
MVN_DEPENDENCY_PLUGIN      := org.apache.maven.plugins:maven-dependency-plugin:3.8.1

GO_TOOLS    := $(TOOLS)/go/bin
PROTOC_DIR  := $(TOOLS)/protoc
TS_DIR      := client_ts
JAVA_DIR    := client_java
GO_DIR      := client_go
TS_NPM_STAMP := $(TS_DIR)/node_modules/.npm-ci.stamp
REFLECTION_DESCRIPTORS := server/executor_server/rpc/_gen/executor.binpb
STUB_DIRS   := $(GO_DIR)/gen $(TS_DIR)/src/gen $(JAVA_DIR)/src/generated $(dir $(REFLECTION_DESCRIPTORS))
# protoc's and grpc-java's binaries are published per platform (os-maven-plugin's names).
PROTOC_PLATFORM := $(if $(filter Darwin,$(shell uname -s)),osx,linux)-$(if $(filter aarch64 arm64,$(shell uname -m)),aarch_64,x86_64)
ADDR        ?= 127.0.0.1:50051

.PHONY: stubs stubs-clients check-stubs shell-tools example-go example-ts example-java clean-clients

# The tool stamps come after $(UV_STAMP), whose recipe starts .tools/ afresh.
# go_tool NAME PACKAGE VERSION: a stamp per version, so changing a pin reinstalls.
define go_tool
$(GO_TOOLS)/.$(1)-$(3).stamp: | $(UV_STAMP)
	GOBIN="$$(abspath $(GO_TOOLS))" $(GO) install $(2)@$(3)
	touch $$@
endef
$(eval $(call go_tool,protoc-gen-go,google.golang.org/protobuf/cmd/protoc-gen-go,$(PROTOC_GEN_GO_VERSION)))
$(eval $(call go_tool,protoc-gen-go-grpc,google.golang.org/grpc/cmd/protoc-gen-go-grpc,$(PROTOC_GEN_GO_GRPC_VERSION)))
$(eval $(call go_tool,grpcurl,github.com/fullstorydev/grpcurl/cmd/grpcurl,$(GRPCURL_VERSION)))
$(eval $(call go_tool,ghz,github.com/bojand/ghz/cmd/ghz,$(GHZ_VERSION)))

# maven_exe NAME GROUP:ARTIFACT:VERSION: a platform binary from Maven Central.
define maven_exe
$(PROTOC_DIR)/.$(1)-$(lastword $(subst :, ,$(2))).stamp: | $(UV_STAMP)
	$(MVN) $(MVN_FLAGS) $(MVN_DEPENDENCY_PLUGIN):copy -Dartifact=$(2):exe:$(PROTOC_PLATFORM) \
		-DoutputDirectory="$$(abspath $(PROTOC_DIR))" -Dmdep.stripVersion=true $(MVN_NO_ANSI)
	mv -f $(PROTOC_DIR)/$(1)-$(PROTOC_PLATFORM).exe $(PROTOC_DIR)/$(1)
	chmod +x $(PROTOC_DIR)/$(1)
	touch $$@
endef
$(eval $(call maven_exe,protoc,com.google.protobuf:protoc:$(PROTOC_VERSION)))
$(eval $(call maven_exe,protoc-gen-grpc-java,io.grpc:protoc-gen-grpc-java:$(GRPC_JAVA_PLUGIN_VERSION)))

STUB_TOOLS := \
	$(GO_TOOLS)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION).stamp \
	$(GO_TOOLS)/.protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION).stamp \
	$(PROTOC_DIR)/.protoc-$(PROTOC_VERSION).stamp \
	$(PROTOC_DIR)/.protoc-gen-grpc-java-$(GRPC_JAVA_PLUGIN_VERSION).stamp \
	$(TS_NPM_STAMP) $(NPM_STAMP)

shell-tools: $(GO_TOOLS)/.grpcurl-$(GRPCURL_VERSION).stamp $(GO_TOOLS)/.ghz-$(GHZ_VERSION).stamp

$(TS_NPM_STAMP): $(TS_DIR)/package.json $(TS_DIR)/package-lock.json
	cd $(TS_DIR) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

stubs: proto stubs-clients

# google.rpc's error details (BadRequest, ErrorInfo, RetryInfo) have no npm package for
# protobuf-es: TypeScript generates them from the proto that the pinned
# googleapis-common-protos (uv.lock) ships, the same definitions the server sends.
stubs-clients: $(STUB_TOOLS) $(VENV_STAMP)
	$(BUF) generate
	rpc_protos="$$(mktemp -d)"; trap 'rm -rf "$$rpc_protos"' EXIT; \
	mkdir -p "$$rpc_protos/google/rpc"; \
	cp "$$($(VPY) -c 'import os, google.rpc.error_details_pb2 as m; print(os.path.dirname(m.__file__))')/error_details.proto" "$$rpc_protos/google/rpc/"; \
	$(BUF) generate "$$rpc_protos" --template $(TS_DIR)/buf.gen.googleapis.yaml
	mkdir -p $(dir $(REFLECTION_DESCRIPTORS))
	$(BUF) build $(PROTO_DIR) -o $(REFLECTION_DESCRIPTORS)

# Like check-proto, for every other language and the reflection descriptors.
check-stubs: stubs-clients
	git diff --exit-code --stat -- $(STUB_DIRS) \
		|| { echo "error: generated stubs are out of date: run 'make stubs' and commit the result" >&2; exit 1; }
	drift="$$(git status --porcelain --untracked-files=all -- $(STUB_DIRS) | grep -v '^[MADRC] ' || true)"; \
	if [ -n "$$drift" ]; then \
		echo "$$drift" >&2; \
		echo "error: untracked or modified generated stubs: run 'make stubs' and commit them" >&2; \
		exit 1; \
	fi

# The example programs: `make example-go ADDR=127.0.0.1:50051` against a running server.
example-go:
	cd $(GO_DIR) && $(GO) run ./cmd/example $(ADDR)

$(TS_DIR)/dist/.build.stamp: $(TS_NPM_STAMP) $(TS_DIR)/tsconfig.json \
		$(shell find $(TS_DIR)/src $(TS_DIR)/example -name '*.ts' 2>/dev/null)
	cd $(TS_DIR) && npm run --silent build
	touch $@

example-ts: $(TS_DIR)/dist/.build.stamp
	node $(TS_DIR)/dist/example/main.js $(ADDR)

# `mvn package` also writes the runtime classpath, so the example starts without Maven.
$(JAVA_DIR)/target/.build.stamp: $(JAVA_DIR)/pom.xml $(shell find $(JAVA_DIR)/src -name '*.java' 2>/dev/null)
	$(MVN) $(MVN_FLAGS) -f $(JAVA_DIR)/pom.xml package $(MVN_NO_ANSI)
	touch $@

example-java: $(JAVA_DIR)/target/.build.stamp
	java -cp "$(JAVA_DIR)/target/classes:$$(cat $(JAVA_DIR)/target/classpath.txt)" \
		dev.executor.example.Example $(ADDR)

clean: clean-clients
clean-clients:
	rm -rf $(TS_DIR)/node_modules $(TS_DIR)/dist $(JAVA_DIR)/target

# ----------------------------------------------------------------- lint

lint-py: $(VENV_STAMP)
	$(UV_ENV) $(UV) lock --check --python $(PYTHON)
	$(RUFF) check .
	$(RUFF) format --check .
	$(MYPY)

lint-proto: $(NPM_STAMP)
	$(BUF) lint

lint: lint-py lint-proto check-proto check-stubs

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

# ----------------------------------------------------------------- postgresql

# The tests start their own throwaway PostgreSQL cluster (tests/support/postgres.py) from
# Debian's server package, installed here when it is missing and this user may (root with
# apt-get, as in CI) -- without the package's default cluster, which nothing uses.
# Elsewhere the PostgreSQL tests skip, saying why (and fail when CI is set).
postgres:
	@if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "postgres: installing Debian's postgresql"; \
		mkdir -p /etc/postgresql-common; \
		[ -e /etc/postgresql-common/createcluster.conf ] \
			|| echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf; \
		apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
			postgresql >/dev/null; \
	else \
		echo "postgres: no PostgreSQL server, and installing one needs root and apt-get:" \
			"the PostgreSQL tests will skip" >&2; \
	fi

# ----------------------------------------------------------------- nginx

# The cluster test puts three replicas behind nginx (grpc_pass), from Debian's package,
# installed here like PostgreSQL above (without starting the package's own server);
# elsewhere that test skips, saying why (and fails when CI is set).
nginx:
	@if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "nginx: installing Debian's nginx"; \
		apt-get update -qq; \
		[ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
			chmod +x /usr/sbin/policy-rc.d; added_policy=1; }; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
			nginx >/dev/null; \
		[ -z "$${added_policy:-}" ] || rm -f /usr/sbin/policy-rc.d; \
	else \
		echo "nginx: no nginx, and installing it needs root and apt-get:" \
			"the cluster test will skip" >&2; \
	fi

# Three replicas behind nginx on one machine, on a throwaway PostgreSQL: see README,
# "Running several replicas". Ctrl-C stops everything.
cluster: install postgres nginx
	$(VPY) -m tests.support.cluster $(ARGS)

# ----------------------------------------------------------------- test

test: install shell-tools postgres nginx
	$(MAKE) --no-print-directory lint
	$(PYTEST) $(PYTEST_ARGS)
	$(MAKE) --no-print-directory audit

# The outside probe of tests/test_fuzz_rpc.py and the engine machine's stateful test,
# longer and with fresh random examples each run (`make test` runs them briefly, the same
# examples every time).
FUZZ_EXAMPLES ?= 3000
MACHINE_EXAMPLES ?= 2000

fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 MACHINE_EXAMPLES=$(MACHINE_EXAMPLES) \
		$(PYTEST) tests/test_fuzz_rpc.py tests/test_machine.py tests/test_branching_machine.py \
		--timeout 3600 $(PYTEST_ARGS)

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
