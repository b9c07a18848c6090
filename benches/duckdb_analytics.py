"""DuckDB side of `cargo bench --bench analytics` (see BENCHMARKS.md).

Runs DuckDB's equivalents of ilot's heat-analytics views on the store's Parquet files
(`<store>/readings/network=*/date=*/*.parquet`, Hive partitions), each query RUNS times in one
process (best time kept), in up to three variants:

- plain:  a direct translation of the view, timestamp functions;
- int:    integer time arithmetic (epoch ms // 3,600,000 hour buckets, integer day numbers) and
          window functions instead of self-joins;
- rollup: from an hourly rollup table (count, sum, min, max of QC-passed readings per sensor
          hour), created once, its creation timed separately (`rollup_create_s`);
- pruned: ("now", one sensor's week) with a filter on the `date` partition column.

Semantics reproduced from query/src/analytics/*.sql for one network whose sensors are all
registered, 5-minute cadence and no elevations: QC-passed readings (qc_flags & 31 = 0); an
hour is valid with >= 10 of its 12 samples; the reference is the mean of the rural stations'
valid hours; nights 21-03 UTC labelled by the evening, valid with >= 5 of 6 hours; Tn over
[D-1 18:00, D 18:00), Tx over [D 06:00, D+1 06:00) UTC, NULL below 80 % of 288 samples; IBM the
forward 3-day means, criterion IBMn >= 21 and IBMx >= 36 (Haute-Garonne).

Prints progress on stderr and one JSON document on stdout:
{"version", "rollup_create_s", "peak_rss_mib", "queries": {name: {variant: {"s", "result"}}}}.
"""

import argparse
import datetime
import json
import resource
import sys
import time

import duckdb

SN, SX = 21.0, 36.0  # département 31 thresholds (ingest/src/registry/canicule_thresholds.csv)
QC = "qc_flags & 31 = 0"

# --- nightly UHI --------------------------------------------------------------------------

UHI_PLAIN = f"""
WITH hourly AS (
    SELECT sensor_id, date_trunc('hour', ts) AS hour, avg(CAST(temperature_c AS DOUBLE)) AS t
    FROM readings WHERE {QC}
    GROUP BY sensor_id, date_trunc('hour', ts) HAVING count(*) * 300 >= 0.8 * 3600
),
ref AS (
    SELECT hour, avg(t) AS ref FROM hourly
    WHERE sensor_id IN (SELECT sensor_id FROM sensors WHERE role = 'rural') GROUP BY hour
),
labelled AS (
    SELECT h.sensor_id, h.t - r.ref AS uhi,
        CASE WHEN hour(h.hour + INTERVAL 30 MINUTE) >= 21 THEN CAST(h.hour AS DATE)
             WHEN hour(h.hour + INTERVAL 30 MINUTE) < 3 THEN CAST(h.hour AS DATE) - 1 END AS night
    FROM hourly h JOIN ref r ON r.hour = h.hour
),
nights AS (
    SELECT sensor_id, night, avg(uhi) AS uhi_mean, max(uhi) AS uhi_max FROM labelled
    WHERE night IS NOT NULL GROUP BY sensor_id, night HAVING count(*) >= 0.8 * 6
)
SELECT count(*), avg(uhi_mean), max(uhi_max) FROM nights
"""

# Integer hour buckets; only night hours need the reference and the join.
UHI_NIGHTS_FROM_HOURLY = """
ref AS (
    SELECT h, avg(t) AS ref FROM hourly
    WHERE sensor_id IN (SELECT sensor_id FROM sensors WHERE role = 'rural') GROUP BY h
),
nights AS (
    SELECT hourly.sensor_id, (hourly.h - 3) // 24 AS night,
           avg(hourly.t - ref.ref) AS uhi_mean, max(hourly.t - ref.ref) AS uhi_max
    FROM hourly JOIN ref USING (h)
    GROUP BY hourly.sensor_id, (hourly.h - 3) // 24 HAVING count(*) >= 5
)
SELECT count(*), avg(uhi_mean), max(uhi_max) FROM nights
"""

UHI_INT = f"""
WITH hourly AS (
    SELECT sensor_id, epoch_ms(ts) // 3600000 AS h, avg(CAST(temperature_c AS DOUBLE)) AS t
    FROM readings WHERE {QC} AND (epoch_ms(ts) // 3600000) % 24 IN (21, 22, 23, 0, 1, 2)
    GROUP BY ALL HAVING count(*) >= 10
),
{UHI_NIGHTS_FROM_HOURLY}"""

UHI_ROLLUP = f"""
WITH hourly AS (
    SELECT sensor_id, h, tsum / n AS t FROM hourly_rollup WHERE n >= 10 AND h % 24 IN (21, 22, 23, 0, 1, 2)
),
{UHI_NIGHTS_FROM_HOURLY}"""

# --- daily Tn/Tx and IBM --------------------------------------------------------------------

DAILY_PLAIN = f"""
q AS (SELECT sensor_id, ts, CAST(temperature_c AS DOUBLE) AS t FROM readings WHERE {QC}),
tn AS (SELECT sensor_id, CAST(ts + INTERVAL 6 HOUR AS DATE) AS day, min(t) AS tn, count(*) AS n FROM q GROUP BY ALL),
tx AS (SELECT sensor_id, CAST(ts - INTERVAL 6 HOUR AS DATE) AS day, max(t) AS tx, count(*) AS n FROM q GROUP BY ALL),
daily AS (
    SELECT COALESCE(tn.sensor_id, tx.sensor_id) AS sensor_id, COALESCE(tn.day, tx.day) AS day,
           CASE WHEN tn.n >= 0.8 * 288 THEN tn.tn END AS tn_c, CASE WHEN tx.n >= 0.8 * 288 THEN tx.tx END AS tx_c
    FROM tn FULL OUTER JOIN tx ON tn.sensor_id = tx.sensor_id AND tn.day = tx.day
)"""

# One scan: per sensor hour first, then both 24-hour windows from the hours.
HOURLY_INT = f"""
SELECT sensor_id, epoch_ms(ts) // 3600000 AS h, count(*) AS n, sum(CAST(temperature_c AS DOUBLE)) AS tsum,
       min(CAST(temperature_c AS DOUBLE)) AS tmin, max(CAST(temperature_c AS DOUBLE)) AS tmax
FROM readings WHERE {QC} GROUP BY ALL"""

DAILY_FROM_HOURLY = """
tn AS (SELECT sensor_id, (h + 6) // 24 AS day, min(tmin) AS tn, sum(n) AS n FROM hourly GROUP BY ALL),
tx AS (SELECT sensor_id, (h - 6) // 24 AS day, max(tmax) AS tx, sum(n) AS n FROM hourly GROUP BY ALL),
daily AS (
    SELECT COALESCE(tn.sensor_id, tx.sensor_id) AS sensor_id, COALESCE(tn.day, tx.day) AS day,
           CASE WHEN tn.n >= 0.8 * 288 THEN tn.tn END AS tn_c, CASE WHEN tx.n >= 0.8 * 288 THEN tx.tx END AS tx_c
    FROM tn FULL OUTER JOIN tx ON tn.sensor_id = tx.sensor_id AND tn.day = tx.day
)"""

DAILY_SELECT = "SELECT count(*), avg(tn_c), avg(tx_c) FROM daily"

# The criterion in integer hundredths of a degree, as ilot does: exact at the thresholds.
IBM_SELFJOIN = f"""
SELECT count(*), sum(CASE WHEN ibmn >= 3 * {SN * 100:.0f} AND ibmx >= 3 * {SX * 100:.0f} THEN 1 ELSE 0 END) FROM (
    SELECT d.sensor_id, d.day, sum(round(w.tn_c * 100)) AS ibmn, sum(round(w.tx_c * 100)) AS ibmx, count(w.tn_c) AS tn_days, count(w.tx_c) AS tx_days
    FROM daily d JOIN daily w ON w.sensor_id = d.sensor_id AND w.day >= d.day AND w.day <= d.day + 2
    GROUP BY d.sensor_id, d.day
) WHERE tn_days = 3 AND tx_days = 3"""

IBM_WINDOW = f"""
SELECT count(*), sum(CASE WHEN ibmn >= 3 * {SN * 100:.0f} AND ibmx >= 3 * {SX * 100:.0f} THEN 1 ELSE 0 END) FROM (
    SELECT sum(round(tn_c * 100)) OVER w AS ibmn, sum(round(tx_c * 100)) OVER w AS ibmx, count(tn_c) OVER w AS tn_days, count(tx_c) OVER w AS tx_days
    FROM daily WINDOW w AS (PARTITION BY sensor_id ORDER BY day RANGE BETWEEN CURRENT ROW AND 2 FOLLOWING)
) WHERE tn_days = 3 AND tx_days = 3"""


def queries(a):
    last = datetime.date.fromisoformat(a.last_day)
    w0 = datetime.date.fromisoformat(a.week_start)
    w1 = w0 + datetime.timedelta(days=7)
    # Timestamps leave DuckDB as epoch ms (TIMESTAMPTZ values in Python would need pytz).
    latest = """SELECT network, sensor_id, epoch_ms(max(ts)) AS ts, arg_max(temperature_c, ts), arg_max(humidity_pct, ts),
                       arg_max(qc_flags, ts), epoch_ms(arg_max(received_at, ts)) FROM readings {} GROUP BY ALL"""
    week = (f"SELECT epoch_ms(ts), temperature_c FROM readings WHERE sensor_id = '{a.week_sensor}' "
            f"AND ts >= TIMESTAMPTZ '{w0} 00:00:00+00' AND ts < TIMESTAMPTZ '{w1} 00:00:00+00'")
    return {
        "uhi_nightly": {"plain": UHI_PLAIN, "int": UHI_INT, "rollup": UHI_ROLLUP},
        "daily_tn_tx": {
            "plain": f"WITH {DAILY_PLAIN} {DAILY_SELECT}",
            "int": f"WITH hourly AS ({HOURLY_INT}), {DAILY_FROM_HOURLY} {DAILY_SELECT}",
            "rollup": f"WITH hourly AS (SELECT * FROM hourly_rollup), {DAILY_FROM_HOURLY} {DAILY_SELECT}",
        },
        "ibm": {
            "plain": f"WITH {DAILY_PLAIN} {IBM_SELFJOIN}",
            "int": f"WITH hourly AS ({HOURLY_INT}), {DAILY_FROM_HOURLY} {IBM_WINDOW}",
            "rollup": f"WITH hourly AS (SELECT * FROM hourly_rollup), {DAILY_FROM_HOURLY} {IBM_WINDOW}",
        },
        "now": {
            "plain": latest.format(""),
            "pruned": latest.format(f"WHERE date >= DATE '{last - datetime.timedelta(days=1)}'"),
        },
        "week": {
            "plain": week,
            "pruned": week + f" AND date >= DATE '{w0}' AND date <= DATE '{w1}'",
        },
    }


def summarise(name, rows):
    """The numbers the Rust harness compares with ilot's (see `summarise` in analytics.rs)."""
    if name == "now":
        t = [r[2] for r in rows]
        return [len(rows), min(t), max(t)]
    if name == "week":
        return [len(rows), sum(float(r[1]) for r in rows)]
    return [None if v is None else float(v) for v in rows[0]]


def best_of(con, sql, runs):
    best, rows = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        rows = con.execute(sql).fetchall()
        best = min(best, time.perf_counter() - t)
    return best, rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--store", required=True, help="ilot's storage.data_dir")
    p.add_argument("--sensors", required=True, help="registry CSV (sensor_id, role)")
    p.add_argument("--last-day", required=True)
    p.add_argument("--week-sensor", required=True)
    p.add_argument("--week-start", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-limit", default="1GiB")
    a = p.parse_args()

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET threads = {a.threads}")
    con.execute(f"SET memory_limit = '{a.memory_limit}'")
    con.execute(f"""CREATE VIEW readings AS SELECT * FROM read_parquet('{a.store}/readings/*/*/*.parquet', hive_partitioning = true)""")
    con.execute(f"CREATE TABLE sensors AS SELECT * FROM read_csv('{a.sensors}')")

    t = time.perf_counter()
    con.execute(f"CREATE TABLE hourly_rollup AS {HOURLY_INT}")
    rollup_s = time.perf_counter() - t
    print(f"duckdb hourly rollup created in {rollup_s:.3f} s", file=sys.stderr)

    out = {}
    for name, variants in queries(a).items():
        out[name] = {}
        for variant, sql in variants.items():
            s, rows = best_of(con, sql, a.runs)
            out[name][variant] = {"s": s, "result": summarise(name, rows)}
            print(f"duckdb {name} {variant}: {s:.3f} s {out[name][variant]['result']}", file=sys.stderr)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump({"version": duckdb.__version__, "rollup_create_s": rollup_s, "peak_rss_mib": peak, "queries": out}, sys.stdout)


if __name__ == "__main__":
    main()
