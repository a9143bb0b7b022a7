"""psycopg2 and pandas against Silt's PostgreSQL listener.

Reads a JSON request on stdin: {"dsn": ..., "queries": [[sql, params|null], ...],
"pandas": sql}. Writes JSON on stdout: for each query its column names, type
OIDs and rows (timestamps as ISO 8601 strings, numerics as strings), and for
pandas the frame's columns, dtypes and row count.
"""
import datetime
import decimal
import json
import sys

import psycopg2


def plain(v):
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    return v


def main():
    req = json.load(sys.stdin)
    out = {"queries": []}
    conn = psycopg2.connect(req["dsn"])
    # psycopg2 opens a transaction before the first query (BEGIN) and
    # ends it with commit(): Silt accepts both.
    cur = conn.cursor()
    for sql, params in req["queries"]:
        cur.execute(sql, params)
        out["queries"].append({
            "columns": [d.name for d in cur.description],
            "oids": [d.type_code for d in cur.description],
            "rows": [[plain(v) for v in row] for row in cur.fetchall()],
        })
    conn.commit()
    if req.get("pandas"):
        import pandas
        df = pandas.read_sql(req["pandas"], conn)
        out["pandas"] = {"columns": list(df.columns), "dtypes": [str(t) for t in df.dtypes], "rows": len(df)}
    conn.close()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
