#!/usr/bin/env bash
# Regenerates gen/ (the Go stubs of ../../proto) with buf and the pinned protoc plugins.
#
#   ./generate.sh          rewrite gen/
#   ./generate.sh --check  generate into a temporary directory and fail if it differs from gen/
#
# The plugins are installed with `go install` into .bin/ (gitignored) when missing or of
# another version. buf is the repository's own (`make install` puts it in node_modules/);
# set BUF to use another one.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12      # google.golang.org/protobuf/cmd/protoc-gen-go
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2   # google.golang.org/grpc/cmd/protoc-gen-go-grpc

cd "$(dirname "${BASH_SOURCE[0]}")"
BUF="${BUF:-../../node_modules/.bin/buf}"
if [[ ! -x "$BUF" ]]; then
    echo "error: $BUF not found: run 'make install' at the repository root, or set BUF" >&2
    exit 1
fi

check=false
case "${1:-}" in
    "") ;;
    --check) check=true ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# install BINARY PACKAGE VERSION VERSION_OUTPUT: go install unless .bin/BINARY --version
# already prints VERSION_OUTPUT.
install() {
    local binary=$1 package=$2 version=$3 expected=$4
    if [[ "$(".bin/$binary" --version 2>/dev/null || true)" != "$expected" ]]; then
        echo "installing $package@$version into .bin/" >&2
        GOBIN="$PWD/.bin" go install "$package@$version"
    fi
}
install protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go \
    "$PROTOC_GEN_GO_VERSION" "protoc-gen-go $PROTOC_GEN_GO_VERSION"
install protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc \
    "$PROTOC_GEN_GO_GRPC_VERSION" "protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}"

if $check; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$BUF" generate --output "$tmp"
    if ! diff -r -u gen "$tmp/gen" >&2; then
        echo "error: examples/go-client/gen is out of date with proto/: run examples/go-client/generate.sh" >&2
        exit 1
    fi
    echo "gen/ is up to date" >&2
else
    rm -rf gen
    "$BUF" generate
    echo "generated gen/" >&2
fi
