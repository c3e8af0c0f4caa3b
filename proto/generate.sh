#!/usr/bin/env bash
# Regenerates the Go code of the protobuf files under api/ and proto/ with
# the pinned buf, protoc-gen-go and protoc-gen-connect-go (tools/proto/go.mod),
# after buf lint. The generated
# code is committed: building or testing Berty needs none of this.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/.ci/bin"
mkdir -p "$bin"
(cd tools/proto &&
	go build -o "$bin/buf" github.com/bufbuild/buf/cmd/buf &&
	go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go &&
	go build -o "$bin/protoc-gen-connect-go" connectrpc.com/connect/cmd/protoc-gen-connect-go)
# One buf workspace (buf.yaml at the root): api/ (the services) and proto/
# (the app payloads).
PATH="$bin:$PATH" buf lint
PATH="$bin:$PATH" buf generate
