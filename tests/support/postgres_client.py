"""An analyst's Python session against ilot's PostgreSQL endpoint, with psycopg 3 (libpq):
reads, parameterised and prepared queries in text and binary, a multi-statement simple query,
and every refusal (writes, limits, wrong password, plaintext, too many connections) with its
SQLSTATE. Run by tests/postgres_wire.rs; prints one line per check, exits non-zero on the first
failure.

Environment: PGHOST, PGPORT, ILOT_CA (the CA file), ILOT_READER_PASSWORD, ILOT_ADMIN_PASSWORD,
ILOT_ROWS (readings stored), ILOT_PER_SENSOR, ILOT_SENSOR, ILOT_MAX_ROWS, ILOT_MAX_CONNECTIONS.
"""

import datetime
import os
import sys

import psycopg
from psycopg import errors

HOST, PORT, CA = os.environ["PGHOST"], os.environ["PGPORT"], os.environ["ILOT_CA"]
ROWS, PER_SENSOR = int(os.environ["ILOT_ROWS"]), int(os.environ["ILOT_PER_SENSOR"])
SENSOR, MAX_ROWS = os.environ["ILOT_SENSOR"], int(os.environ["ILOT_MAX_ROWS"])
MAX_CONNECTIONS = int(os.environ["ILOT_MAX_CONNECTIONS"])


def connect(user="reader", password=None, **extra):
    password = password if password is not None else os.environ["ILOT_READER_PASSWORD"]
    params = dict(host=HOST, port=PORT, dbname="ilot", user=user, password=password,
                  sslmode="verify-full", sslrootcert=CA, connect_timeout=10)
    params.update(extra)
    return psycopg.connect(**params, autocommit=True)


def check(name, condition, detail=""):
    if not condition:
        print(f"FAILED {name}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok {name}", flush=True)


def refused(conn, sql, error_class, words):
    try:
        conn.execute(sql)
    except error_class as e:
        check(f"refused {sql[:40]!r}", words in str(e), f"{type(e).__name__}: {e}")
        return
    except psycopg.Error as e:
        check(f"refused {sql[:40]!r}", False, f"wrong error {type(e).__name__} ({e.sqlstate}): {e}")
    check(f"refused {sql[:40]!r}", False, "it ran")


with connect(channel_binding="require") as conn:
    check("SCRAM-SHA-256-PLUS over TLS", conn.info.pgconn.ssl_in_use)
    (count,) = conn.execute("SELECT count(*) FROM readings").fetchone()
    check("SELECT count(*)", count == ROWS, f"{count} != {ROWS}")

    # Parameterised: psycopg sends $1, $2 in the extended protocol (Parse/Bind/Execute).
    sql = "SELECT sensor_id, count(*) AS n, min(ts) AS first FROM readings WHERE sensor_id = %s AND temperature_c > %s GROUP BY sensor_id"
    rows = conn.execute(sql, (SENSOR, -50.0)).fetchall()
    check("parameterised query", rows and rows[0][0] == SENSOR and rows[0][1] == PER_SENSOR, rows)
    check("timestamps arrive as datetimes", isinstance(rows[0][2], datetime.datetime), type(rows[0][2]))
    binary = conn.cursor(binary=True).execute(sql, (SENSOR, -50.0)).fetchall()
    check("the same in binary results", binary == rows, f"{binary} != {rows}")

    # Every common type, text and binary alike (the endpoint writes these values itself).
    typed = """SELECT CAST(-3 AS SMALLINT) AS i2, CAST(7 AS INT) AS i4, CAST(9000000000 AS BIGINT) AS i8,
        CAST(1.5 AS REAL) AS f4, CAST(21.37 AS DOUBLE) AS f8, true AS b, 'Capitole é' AS t, DATE '2026-07-14' AS d,
        TIMESTAMP '2026-07-14 03:04:05.123456' AS ts,
        arrow_cast(TIMESTAMP '2026-07-14 03:04:05', 'Timestamp(Millisecond, Some("UTC"))') AS tstz,
        arrow_cast(TIMESTAMP '2026-07-14 03:04:05', 'Timestamp(Second, Some("Europe/Paris"))') AS paris,  -- 03:04:05+02
        CAST(NULL AS INT) AS n"""
    utc = datetime.timezone.utc
    expected = (-3, 7, 9000000000, 1.5, 21.37, True, "Capitole é", datetime.date(2026, 7, 14),
                datetime.datetime(2026, 7, 14, 3, 4, 5, 123456), datetime.datetime(2026, 7, 14, 3, 4, 5, tzinfo=utc),
                datetime.datetime(2026, 7, 14, 1, 4, 5, tzinfo=utc), None)
    text_row = conn.execute(typed).fetchone()
    check("every common type, text results", text_row == expected, f"{text_row} != {expected}")
    binary_row = conn.cursor(binary=True).execute(typed).fetchone()
    check("every common type, binary results", binary_row == expected, f"{binary_row} != {expected}")
    for _ in range(3):
        prepared = conn.execute(sql, (SENSOR, -50.0), prepare=True).fetchall()
    check("a prepared statement, executed again", prepared == rows, prepared)
    none = conn.execute(sql, ("no-such-sensor", 0.0)).fetchall()
    check("a parameter is a value, not SQL", none == [], none)
    injected = conn.execute("SELECT count(*) FROM readings WHERE sensor_id = %s", ("x' OR '1'='1",)).fetchone()
    check("an injection attempt is just a string", injected == (0,), injected)

    # Grafana's shape: several statements in one simple query.
    cur = psycopg.ClientCursor(conn)
    cur.execute("SET TIME ZONE 'UTC'; SELECT count(*) FROM readings")
    check("multi-statement simple query", cur.statusmessage == "SET" and cur.nextset() and cur.fetchone() == (ROWS,))

    # Catalog queries drivers make.
    tables = {r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").fetchall()}
    check("information_schema lists the tables", {"readings", "sensors", "uhi_nightly"} <= tables, tables)
    pg_tables = {r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v')").fetchall()}
    check("pg_catalog lists the tables", "readings" in pg_tables, pg_tables)

    for sql in ["INSERT INTO readings (sensor_id) VALUES ('x')",
                "CREATE TABLE t (a INT)",
                "COPY readings TO '/tmp/ilot-pg-escape.csv'",
                "DROP TABLE readings",
                "SET datafusion.execution.target_partitions = 64"]:
        refused(conn, sql, errors.ReadOnlySqlTransaction, "")
    check("COPY wrote nothing", not os.path.exists("/tmp/ilot-pg-escape.csv"))
    try:
        conn.execute("CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '/etc/passwd'")
        check("CREATE EXTERNAL TABLE refused", False, "it ran")
    except psycopg.Error as e:
        check("CREATE EXTERNAL TABLE refused", e.sqlstate == "25006" and "not CREATE EXTERNAL TABLE" in str(e), f"{e.sqlstate}: {e}")
    (after,) = conn.execute("SELECT count(*) FROM readings").fetchone()
    check("the session goes on after refusals", after == ROWS)

    # The same limits as /api/sql.
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    cut = conn.execute(f"SELECT * FROM generate_series(1, {MAX_ROWS * 3})").fetchall()
    check("results cut at query.max_result_rows, with a notice", len(cut) == MAX_ROWS and any("max_result_rows" in n for n in notices),
          f"{len(cut)} rows, notices {notices}")
    refused(conn, "SELECT count(*) FROM generate_series(1, 100000000000)", errors.QueryCanceled, "time limit")
    refused(conn, "SELECT value % 1000000 AS k, count(*) FROM generate_series(1, 20000000) GROUP BY 1 ORDER BY 2 DESC",
            errors.OutOfMemory, "memory limit")
    deep = "SELECT " + " + ".join(["1"] * 100_000)
    refused(conn, deep, errors.StatementTooComplex, "levels deep")
    try:
        psycopg.ClientCursor(conn).execute(deep)
        check("a deep expression refused (simple protocol)", False, "it ran")
    except errors.StatementTooComplex as e:
        check("a deep expression refused (simple protocol)", "levels deep" in str(e), str(e))
    try:
        conn.execute("SHOW")
        check("a bare SHOW refused", False, "it ran")
    except psycopg.Error as e:
        check("a bare SHOW refused", e.sqlstate in ("25006", "42601"), f"{e.sqlstate}: {e}")
    check("still answering", conn.execute("SELECT 1").fetchone() == (1,))

with connect(user="admin", password=os.environ["ILOT_ADMIN_PASSWORD"]) as conn:
    check("the admin user logs in", conn.execute("SELECT 1").fetchone() == (1,))

for user, password, words in [("reader", "wrong", 'password authentication failed for user "reader"'),
                              ("nobody", os.environ["ILOT_READER_PASSWORD"], 'password authentication failed for user "nobody"'),
                              ("admin", os.environ["ILOT_READER_PASSWORD"], 'password authentication failed for user "admin"')]:
    try:
        connect(user=user, password=password).close()
        check(f"login {user} refused", False, "logged in")
    except psycopg.OperationalError as e:
        check(f"login {user} refused", words in str(e), str(e))

try:
    connect(sslmode="disable").close()
    check("plaintext refused", False, "connected")
except psycopg.OperationalError as e:
    check("plaintext refused", "requires TLS" in str(e), str(e))

held = [connect() for _ in range(MAX_CONNECTIONS)]
try:
    connect().close()
    check("connection limit", False, f"a connection past {MAX_CONNECTIONS} was accepted")
except psycopg.OperationalError as e:
    check("connection limit", "too many clients" in str(e), str(e))
for c in held:
    c.close()
print("all checks passed", flush=True)
