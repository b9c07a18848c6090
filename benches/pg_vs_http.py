"""The same analyst queries over ilot's PostgreSQL endpoint (psycopg 3, libpq, text results,
fetchall) and over its HTTP API (`POST /api/sql?format=csv` on a kept-alive http.client
connection, the body read whole), alternating, in one process (benches/dashboard.rs).

Environment: PGHOST, PGPORT, ILOT_HTTP (host:port), ILOT_RUNS. Queries: one per line on stdin,
`name<TAB>sql`. Prints one JSON line: {name: {pg_ms: [...], http_ms: [...], rows}}.
"""

import http.client
import json
import os
import sys
import time

import psycopg

RUNS = int(os.environ.get("ILOT_RUNS", "20"))
queries = [line.rstrip("\n").split("\t", 1) for line in sys.stdin if line.strip()]

pg = psycopg.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], dbname="ilot", user="reader", autocommit=True)
host, port = os.environ["ILOT_HTTP"].rsplit(":", 1)
web = http.client.HTTPConnection(host, int(port))


def over_pg(sql):
    started = time.perf_counter()
    rows = pg.execute(sql).fetchall()
    return (time.perf_counter() - started) * 1000, len(rows)


def over_http(sql):
    started = time.perf_counter()
    web.request("POST", "/api/sql?format=csv", body=sql.encode(), headers={"Content-Type": "text/plain"})
    response = web.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{response.status}: {body[:200]!r}")
    return (time.perf_counter() - started) * 1000, body.count(b"\n") - 1


results = {}
for name, sql in queries:
    over_pg(sql), over_http(sql)  # warm both paths (plans, caches)
    pg_ms, http_ms = [], []
    for _ in range(RUNS):
        ms, pg_rows = over_pg(sql)
        pg_ms.append(ms)
        ms, http_rows = over_http(sql)
        http_ms.append(ms)
    if pg_rows != http_rows:
        raise RuntimeError(f"{name}: {pg_rows} rows over PostgreSQL, {http_rows} over HTTP")
    results[name] = {"pg_ms": pg_ms, "http_ms": http_ms, "rows": pg_rows}
print(json.dumps(results))
