#!/usr/bin/env node
// Runs one SQL string in an in-memory DuckDB and prints the result rows to
// stdout as one JSON array of objects (column name → value).
//
//   node bench/duckdb/query.mjs "SELECT count(*) FROM 'silt-data/segments/db/cpu/*/*.parquet'"
//
// Values are DuckDB's JSON forms (@duckdb/node-api getRowObjectsJson):
// BIGINT, UBIGINT, HUGEINT and the like are decimal strings (exact, never
// rounded through a JS number), DOUBLE and smaller numbers are JSON numbers
// (shortest round-trip form), BOOLEAN true/false, VARCHAR strings, NULL null,
// timestamps their DuckDB text form.
//
// DuckDB is not in the repository: bench/duckdb/install.sh installs the pinned
// @duckdb/node-api into $SILT_DUCKDB_DIR, by default
// ${SILT_TOOLS_DIR:-$HOME/.cache/silt-tools}/duckdb. Exit status: 0 on
// success, 1 on a DuckDB error (message on stderr), 2 when DuckDB is not
// installed or the usage is wrong.
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

function duckdbDir() {
  if (process.env.SILT_DUCKDB_DIR) return process.env.SILT_DUCKDB_DIR;
  const tools = process.env.SILT_TOOLS_DIR || join(process.env.HOME || homedir(), '.cache', 'silt-tools');
  return join(tools, 'duckdb');
}

const sql = process.argv[2];
if (process.argv.length !== 3 || !sql) {
  process.stderr.write('usage: node query.mjs "SQL"\n');
  process.exit(2);
}

const dir = duckdbDir();
let api;
try {
  // ESM ignores NODE_PATH: resolve the package from the install directory.
  const resolved = createRequire(join(dir, 'package.json')).resolve('@duckdb/node-api');
  api = await import(pathToFileURL(resolved).href);
} catch (err) {
  process.stderr.write(`@duckdb/node-api not found under ${dir} (${err.message}); run: bash bench/duckdb/install.sh\n`);
  process.exit(2);
}

let instance;
let conn;
try {
  instance = await api.DuckDBInstance.create(':memory:');
  conn = await instance.connect();
  const reader = await conn.runAndReadAll(sql);
  process.stdout.write(JSON.stringify(reader.getRowObjectsJson()) + '\n');
} catch (err) {
  process.stderr.write(`duckdb: ${err.message}\n`);
  process.exitCode = 1;
} finally {
  conn?.closeSync();
  instance?.closeSync();
}
