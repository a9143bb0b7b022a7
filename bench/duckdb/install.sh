#!/usr/bin/env bash
# Installs the pinned DuckDB (@duckdb/node-api, whose npm packages ship the
# DuckDB library itself) for bench/duckdb/query.mjs and the DuckDB segment
# test (cmd/silt/duckdb_test.go). Needs only node and npm.
#
#   bash bench/duckdb/install.sh       # installs into $SILT_DUCKDB_DIR
#
# SILT_DUCKDB_DIR defaults to ${SILT_TOOLS_DIR:-$HOME/.cache/silt-tools}/duckdb,
# outside the repository. package.json pins the exact version and
# package-lock.json beside it records the integrity of the Linux packages.
# It is `npm install` with that lock rather than `npm ci`: the lock cannot
# list the macOS and Windows binding packages when the registry in use does
# not serve them, and npm ci refuses such a lock; npm install still takes
# every version and integrity the lock has. Idempotent: when the directory
# already holds an install from the same lock file and DuckDB runs, it does
# nothing more.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${SILT_DUCKDB_DIR:-${SILT_TOOLS_DIR:-$HOME/.cache/silt-tools}/duckdb}

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "install.sh: $tool not found (Debian: apt-get install nodejs npm)" >&2; exit 1; }
done

smoke() {
  SILT_DUCKDB_DIR=$dir node "$here/query.mjs" "SELECT version() AS duckdb_version"
}

if [[ -f $dir/node_modules/@duckdb/node-api/package.json ]] &&
  cmp -s "$here/package-lock.json" "$dir/.installed-from-package-lock.json" &&
  out=$(smoke 2>/dev/null); then
  echo "duckdb: already installed in $dir: $out"
  exit 0
fi

echo "duckdb: installing @duckdb/node-api@$(node -p 'require(process.argv[1]).dependencies["@duckdb/node-api"]' "$here/package.json") into $dir"
mkdir -p "$(dirname "$dir")"
tmp=$(mktemp -d "$dir.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
cp "$here/package.json" "$here/package-lock.json" "$tmp/"
npm install --prefix "$tmp" --no-save --no-audit --no-fund --loglevel=error
cp "$here/package-lock.json" "$tmp/.installed-from-package-lock.json"
# Swap the finished install in; a half-done one never sits at $dir.
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "duckdb: installed in $dir: $(smoke)"
