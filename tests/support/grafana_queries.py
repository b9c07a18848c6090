"""Every SQL query of dashboards/grafana/, run against ilot's PostgreSQL endpoint the way
Grafana's PostgreSQL data source (grafana-postgresql-datasource) sends it: template variables
resolved by their own queries, macros expanded as Grafana's macro engine expands them
($__timeFilter(col) → col BETWEEN '…Z' AND '…Z' …), and the whole sent as one multi-statement
simple query after SET TIMEZONE. Also parses the provisioning files and checks they point at
the dashboards' data source. Run by tests/grafana_dashboards.rs.

Environment: PGHOST, PGPORT, PGUSER, ILOT_GRAFANA_DIR, ILOT_MUST_HAVE_ROWS (panel titles,
separated by '|', that must return rows on the demo's data).
"""

import datetime
import glob
import json
import os
import re
import sys

import psycopg
import yaml

GRAFANA = os.environ["ILOT_GRAFANA_DIR"]
MUST_HAVE_ROWS = set(filter(None, os.environ.get("ILOT_MUST_HAVE_ROWS", "").split("|")))


def fail(message):
    print(f"FAILED {message}", flush=True)
    sys.exit(1)


def rfc3339(t):
    # Grafana: t.UTC().Format(time.RFC3339Nano); whole seconds here.
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def relative(spec, now):
    """Grafana's `now-7d` / `now-12h` / `now` time-range syntax (what these dashboards use)."""
    m = re.fullmatch(r"now(?:-(\d+)([smhdw]))?", spec)
    if not m:
        fail(f"time range {spec!r} is not of the form now-<n><unit>")
    if not m.group(1):
        return now
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    return now - datetime.timedelta(seconds=int(m.group(1)) * seconds)


def expand_macros(sql, start, end):
    """Grafana's PostgreSQL macros (pkg/tsdb/grafana-postgresql-datasource/macros.go)."""
    def macro(m):
        name, args = m.group(1), [a.strip() for a in m.group(2).split(",")] if m.group(2).strip() else []
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {args[0]}) AS "time"'
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{rfc3339(start)}' AND '{rfc3339(end)}'"
        if name == "__timeFrom":
            return f"'{rfc3339(start)}'"
        if name == "__timeTo":
            return f"'{rfc3339(end)}'"
        if name == "__unixEpochFilter":
            return f"{args[0]} >= {int(start.timestamp())} AND {args[0]} <= {int(end.timestamp())}"
        fail(f"macro ${name} is not one this check expands: add it, as Grafana expands it")
    expanded = re.sub(r"\$(__[_a-zA-Z0-9]+)\(([^\)]*)\)", macro, sql)
    if "$__" in expanded:
        fail(f"an unexpanded macro remains in: {expanded}")
    return expanded


def substitute(sql, variables):
    for name, value in variables.items():
        sql = sql.replace(f"${{{name}}}", value).replace(f"${name}", value)
    if re.search(r"\$[a-zA-Z]", sql):
        fail(f"an unresolved template variable remains in: {sql}")
    return sql


def run(conn, sql):
    """One multi-statement simple query, as Grafana (pgx) sends it; the last result's rows."""
    cur = psycopg.ClientCursor(conn)
    cur.execute(f"SET TIMEZONE='UTC'; {sql}")
    if not cur.nextset():
        fail(f"one result for two statements: {sql}")
    return cur.fetchall()


# The provisioning files parse, and name the data source the dashboards use.
datasources = yaml.safe_load(open(os.path.join(GRAFANA, "provisioning/datasources/ilot.yaml")))
sources = datasources["datasources"]
if not any(s["type"] == "grafana-postgresql-datasource" and s["uid"] == "ilot-postgres" and s["jsonData"]["database"] == "ilot"
           for s in sources):
    fail(f"no grafana-postgresql-datasource with uid ilot-postgres: {sources}")
providers = yaml.safe_load(open(os.path.join(GRAFANA, "provisioning/dashboards/ilot.yaml")))["providers"]
if not providers or providers[0]["type"] != "file":
    fail(f"dashboard provider: {providers}")
print("ok provisioning files parse", flush=True)

conn = psycopg.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user=os.environ["PGUSER"],
                       dbname="ilot", sslmode="disable", autocommit=True, connect_timeout=10)
now = datetime.datetime.now(datetime.timezone.utc)
files = sorted(glob.glob(os.path.join(GRAFANA, "dashboards/*.json")))
if len(files) < 4:
    fail(f"expected the four dashboards, found {files}")
seen_rows = set()
queries = 0
for path in files:
    dashboard = json.load(open(path))
    start, end = relative(dashboard["time"]["from"], now), relative(dashboard["time"]["to"], now)
    variables = {}
    for var in dashboard["templating"]["list"]:
        if var["datasource"]["uid"] != "ilot-postgres":
            fail(f"{path}: variable {var['name']} on another data source")
        sql = expand_macros(substitute(var["query"], variables), start, end)
        rows = run(conn, sql)
        queries += 1
        if not rows:
            fail(f"{path}: variable {var['name']} has no values: {sql}")
        variables[var["name"]] = str(rows[0][0])
        print(f"ok {os.path.basename(path)} variable {var['name']} = {variables[var['name']]} ({len(rows)} values)", flush=True)
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            if target["datasource"]["uid"] != "ilot-postgres" or not target.get("rawQuery"):
                fail(f"{path}: panel {panel['title']!r} is not a raw SQL query on ilot")
            sql = expand_macros(substitute(target["rawSql"], variables), start, end)
            try:
                rows = run(conn, sql)
            except psycopg.Error as e:
                fail(f"{path}: panel {panel['title']!r}: {e.sqlstate} {e}\n{sql}")
            queries += 1
            if rows:
                seen_rows.add(panel["title"])
            print(f"ok {os.path.basename(path)} panel {panel['title']!r}: {len(rows)} rows", flush=True)
missing = MUST_HAVE_ROWS - seen_rows
if missing:
    fail(f"panels without rows on the demo's data: {sorted(missing)}")
print(f"all {queries} queries ran", flush=True)
