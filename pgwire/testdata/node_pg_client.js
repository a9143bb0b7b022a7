// Runs queries through node's pg client for TestNodePg: reads
// {conn, queries: [[text, params or null]], badPassword} on stdin and
// writes each query's columns, type OIDs and rows (values as the text the
// server sent, every type parser off) or its error and SQLSTATE as JSON.
'use strict';
const { Client } = require('pg');

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const req = JSON.parse(Buffer.concat(chunks).toString());
  const raw = { getTypeParser: () => (v) => v };
  const out = { queries: [], badPassword: null };
  const client = new Client(req.conn);
  await client.connect();
  for (const [text, params] of req.queries) {
    try {
      const q = { text, rowMode: 'array', types: raw };
      if (params !== null) q.values = params; // with values pg uses the extended protocol
      const res = await client.query(q);
      out.queries.push({
        columns: res.fields.map((f) => f.name),
        oids: res.fields.map((f) => f.dataTypeID),
        rows: res.rows,
      });
    } catch (err) {
      out.queries.push({ error: err.message, code: err.code || '' });
    }
  }
  // The session is still usable after an error.
  const after = await client.query('SELECT 1 AS one');
  out.after = after.rows[0].one;
  await client.end();
  const bad = new Client({ ...req.conn, password: req.badPassword });
  try {
    await bad.connect();
    out.badPassword = { error: 'connected' };
    await bad.end();
  } catch (err) {
    out.badPassword = { error: err.message, code: err.code || '' };
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
