#!/usr/bin/env bash
# Regenerates the Go code of the protobuf files under proto/ with the pinned
# buf and protoc-gen-go (tools/proto/go.mod), after buf lint. The generated
# code is committed: building or testing Berty needs none of this.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/.ci/bin"
mkdir -p "$bin"
(cd tools/proto && go build -o "$bin/buf" github.com/bufbuild/buf/cmd/buf && go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go)
cd proto
PATH="$bin:$PATH" buf lint
PATH="$bin:$PATH" buf generate
