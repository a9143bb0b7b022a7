#!/usr/bin/env bash
# Installs the pinned MinIO server that the tiering tests and `make dev` run,
# into a cached bin directory outside the repo. Idempotent: a binary built
# from the same pin is reused (the first build takes ~11 minutes on 2 cores).
#
# Prints the binary's path. The tests find it through SILT_MINIO_BIN.
set -euo pipefail

# The newest MinIO module version on the Go module proxy (the project stopped
# tagging semver releases; this pseudo-version is commit 7aac2a2c5b7c of
# 2026-02-12). It builds with Go 1.26.8.
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
TOOLS_DIR="${SILT_TOOLS_DIR:-$HOME/.cache/silt-tools}"
BIN_DIR="$TOOLS_DIR/minio/bin"
STAMP="$TOOLS_DIR/minio/version"

if [[ -x "$BIN_DIR/minio" && -f "$STAMP" && "$(cat "$STAMP")" == "$MINIO_VERSION" ]]; then
  echo "$BIN_DIR/minio"
  exit 0
fi
mkdir -p "$BIN_DIR"
# Outside any module, so the repo's go.mod does not constrain MinIO's deps.
cd "$(mktemp -d)"
GOFLAGS=-buildvcs=false GOBIN="$BIN_DIR" go install "github.com/minio/minio@$MINIO_VERSION" >&2
echo "$MINIO_VERSION" >"$STAMP"
echo "$BIN_DIR/minio"
