"""The same analyst queries over ilot's PostgreSQL endpoint and over its HTTP API
(`POST /api/sql?format=csv` on a kept-alive http.client connection), alternating, in one
process (benches/dashboard.rs), measured two ways:

- rows in Python's hands: psycopg 3 `execute().fetchall()` (text results, values converted
  to Python objects) against the CSV body parsed by Python's `csv` module (strings);
- the protocols alone: libpq's result, received and split into values by libpq, not
  converted (`pgconn.exec_`), against the CSV body read whole, not parsed.

Environment: PGHOST, PGPORT, ILOT_HTTP (host:port), ILOT_RUNS. Queries: one per line on stdin,
`name<TAB>sql`. Prints one JSON line: {name: {pg_ms, http_ms, pg_raw_ms, http_raw_ms: [...], rows}}.
"""

import csv
import http.client
import io
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


def over_pg_raw(sql):
    started = time.perf_counter()
    result = pg.pgconn.exec_(sql.encode())
    if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
        raise RuntimeError(result.error_message)
    return (time.perf_counter() - started) * 1000, result.ntuples


def http_body(sql):
    web.request("POST", "/api/sql?format=csv", body=sql.encode(), headers={"Content-Type": "text/plain"})
    response = web.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{response.status}: {body[:200]!r}")
    return body


def over_http(sql):
    started = time.perf_counter()
    rows = list(csv.reader(io.StringIO(http_body(sql).decode())))[1:]
    return (time.perf_counter() - started) * 1000, len(rows)


def over_http_raw(sql):
    started = time.perf_counter()
    body = http_body(sql)
    return (time.perf_counter() - started) * 1000, body.count(b"\n") - 1


ways = {"pg_ms": over_pg, "http_ms": over_http, "pg_raw_ms": over_pg_raw, "http_raw_ms": over_http_raw}
results = {}
for name, sql in queries:
    for way in ways.values():
        way(sql)  # warm every path (plans, caches)
    result = {key: [] for key in ways}
    counts = {}
    for _ in range(RUNS):
        for key, way in ways.items():
            ms, counts[key] = way(sql)
            result[key].append(ms)
    if len(set(counts.values())) != 1:
        raise RuntimeError(f"{name}: row counts differ: {counts}")
    result["rows"] = counts["pg_ms"]
    results[name] = result
print(json.dumps(results))
