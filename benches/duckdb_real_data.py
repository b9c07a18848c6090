"""DuckDB side of `cargo bench --bench real_data` part 1 (see BENCHMARKS.md): the work of
`ilot import` and `ilot qc` on a month of an hourly crowdsourced archive, done in DuckDB.

The CrowdQC+ reference implementation (R) cannot run on the bench machine, so the peer is
"the same work in DuckDB", each part in its own child process (its own peak RSS):

- import: read the archive (`p_id`, `time`, `ta`, `lon`, `lat`, `z`; null `ta` = missing),
  write the measured values as Parquet partitioned by UTC day (Hive `date=…`, ZSTD, sorted by
  station and time, as ilot stores them) and the stations (id, lon, lat, z) once;
- qc: CrowdQC+ m1-m3 on that store, as written out in docs/domain.md ("Quality control"):
  m1 false for stations sharing their (lon, lat) with another; m2 per time step over the
  m1-passed values, height-corrected by 0.0065 K/m against the mean z of the step's stations,
  robust z-score against (-2.3263479, 1.6448536) -- with 1.4826 x MAD (DuckDB `mad()`) as the
  spread, since DuckDB has no Qn; m3 per station-month: the share of the month's hours passing
  m2 > 0.2. The per-row flags are written as one Parquet file (ilot writes its `crowdqc`
  table), then counted.

Prints progress on stderr and one JSON document on stdout:
{"version", "import": {"s", "peak_rss_mib", "stored", "stations", "day_files"},
 "qc": {"s", "peak_rss_mib", "passed": {"m1", "m2", "m3"}, "stations": {"m1", "m2", "m3"}}}.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import duckdb

M2_LOW, M2_HIGH = -2.3263479, 1.6448536  # qnorm(0.01), qnorm(0.95)


def connect(a):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET threads = {a.threads}")
    con.execute(f"SET memory_limit = '{a.memory_limit}'")
    return con


def part_import(a):
    con = connect(a)
    src, out = a.archive, a.out
    t = time.perf_counter()
    con.execute(f"""COPY (
        SELECT CAST(p_id AS VARCHAR) AS sensor_id, time AS ts, ta AS temperature_c, CAST(time AS DATE) AS date
        FROM read_parquet('{src}') WHERE ta IS NOT NULL ORDER BY date, sensor_id, ts
    ) TO '{out}/readings' (FORMAT parquet, PARTITION_BY (date), COMPRESSION zstd)""")
    con.execute(f"""COPY (SELECT CAST(p_id AS VARCHAR) AS sensor_id, any_value(lon) AS lon, any_value(lat) AS lat, any_value(z) AS z
        FROM read_parquet('{src}') GROUP BY p_id) TO '{out}/stations.parquet' (FORMAT parquet)""")
    s = time.perf_counter() - t
    stored = con.execute(f"SELECT count(*) FROM read_parquet('{out}/readings/*/*.parquet')").fetchone()[0]
    stations = con.execute(f"SELECT count(*) FROM read_parquet('{out}/stations.parquet')").fetchone()[0]
    days = len(os.listdir(f"{out}/readings"))
    return {"s": s, "stored": stored, "stations": stations, "day_files": days}


M1_M3 = """
WITH st AS (SELECT * FROM read_parquet('{out}/stations.parquet')),
shared AS (SELECT lon, lat FROM st GROUP BY lon, lat HAVING count(*) > 1),
st1 AS (
    SELECT st.sensor_id, st.z, NOT EXISTS (SELECT 1 FROM shared s WHERE s.lon = st.lon AND s.lat = st.lat) AS m1_station FROM st
),
readings AS (SELECT sensor_id, ts, temperature_c AS ta FROM read_parquet('{out}/readings/*/*.parquet', hive_partitioning = true)),
-- every station has a row at every hour of the archive (missing ones null): the step's mean z
-- over all its rows is the mean over the stations
zmean AS (SELECT avg(z) AS zm FROM st),
rows AS (
    SELECT r.sensor_id, r.ts, r.ta, s.m1_station AS m1, r.ta + 0.0065 * (s.z - zmean.zm) AS x
    FROM readings r JOIN st1 s USING (sensor_id) CROSS JOIN zmean
),
step AS (SELECT ts, median(x) AS med, 1.4826 * mad(x) AS spread FROM rows WHERE m1 GROUP BY ts),
m2 AS (
    SELECT r.sensor_id, r.ts, r.ta, r.m1,
           coalesce(r.m1 AND s.spread > 0 AND (r.x - s.med) / s.spread BETWEEN {low} AND {high}, false) AS m2
    FROM rows r LEFT JOIN step s USING (ts)
),
month_share AS (
    SELECT sensor_id, date_trunc('month', ts) AS month,
           count_if(m2) / any_value(date_diff('hour', date_trunc('month', ts), date_trunc('month', ts) + INTERVAL 1 MONTH)) AS share
    FROM m2 GROUP BY ALL
)
SELECT m2.sensor_id, m2.ts, m2.ta, m2.m1, m2.m2, m2.m2 AND ms.share > 0.2 AS m3
FROM m2 JOIN month_share ms ON ms.sensor_id = m2.sensor_id AND ms.month = date_trunc('month', m2.ts)
"""


def part_qc(a):
    con = connect(a)
    t = time.perf_counter()
    sql = M1_M3.format(out=a.out, low=M2_LOW, high=M2_HIGH)
    con.execute(f"COPY ({sql}) TO '{a.out}/crowdqc.parquet' (FORMAT parquet, COMPRESSION zstd)")
    s = time.perf_counter() - t
    levels = ("m1", "m2", "m3")
    counts = con.execute(
        "SELECT " + ", ".join(f"count_if({m}), count(DISTINCT sensor_id) FILTER ({m})" for m in levels) + f" FROM read_parquet('{a.out}/crowdqc.parquet')"
    ).fetchone()
    return {"s": s, "passed": dict(zip(levels, counts[0::2])), "stations": dict(zip(levels, counts[1::2]))}


def child(a, part):
    """Run one part in a child process: its result and its own peak RSS (wait4's maxrss)."""
    argv = [sys.executable, __file__, "--part", part, "--archive", a.archive, "--out", a.out, "--threads", str(a.threads), "--memory-limit", a.memory_limit]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"DuckDB {part} failed ({p.returncode})")
    result = json.loads(out)
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    print(f"duckdb {part}: {result}", file=sys.stderr)
    return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--archive", required=True, help="the archive's Parquet file")
    p.add_argument("--out", required=True, help="an empty directory for DuckDB's store")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-limit", default="1GiB")
    p.add_argument("--part", choices=["import", "qc"], help="run one part in this process (used by the parent)")
    a = p.parse_args()
    if a.part == "import":
        json.dump(part_import(a), sys.stdout)
    elif a.part == "qc":
        json.dump(part_qc(a), sys.stdout)
    else:
        result = {"version": duckdb.__version__, "import": child(a, "import"), "qc": child(a, "qc")}
        json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
