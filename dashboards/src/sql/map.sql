-- map: every registered sensor with a position, as the dashboard's map draws it: its newest
-- reading (latest_readings, no scan), its health by the sensor_health rule's default thresholds
-- (silent: newest reading more than $2 cadences older than its network's newest reading, itself
-- from registered sensors, with a valid time stamp, and not after now; stuck: newest reading
-- flagged STUCK, qc_flags & 4; low battery: newest voltage under $3 V), the newest night
-- of heat island in progress or closed (uhi_night_summary, no completeness rule) and the newest
-- night complete enough for uhi_nightly (>= 80 % of its hours). $1: the oldest night to look at.
WITH as_of AS (
    -- One sensor with a wrong clock (flagged TIMESTAMP, qc_flags & 8) must not make the others silent.
    SELECT l.network, least(max(l.ts), arrow_cast(now(), 'Timestamp(Millisecond, Some("UTC"))')) AS as_of
    FROM latest_readings l
    JOIN sensors s ON s.network = l.network AND s.sensor_id = l.sensor_id
    WHERE l.qc_flags & 8 = 0
    GROUP BY l.network
),
latest_night AS (
    SELECT network, sensor_id, night, uhi_mean_c, uhi_max_c, hours_valid,
           row_number() OVER (PARTITION BY network, sensor_id ORDER BY night DESC) AS k
    FROM uhi_night_summary
    WHERE night >= $1
),
complete_night AS (
    SELECT network, sensor_id, night, uhi_mean_c, uhi_max_c, completeness,
           row_number() OVER (PARTITION BY network, sensor_id ORDER BY night DESC) AS k
    FROM uhi_nightly
    WHERE night >= $1
),
judged AS (
    SELECT
        s.network,
        s.sensor_id,
        s.name,
        s.lat,
        s.lon,
        s.lcz,
        s.role,
        s.cadence_s,
        l.ts,
        l.temperature_c,
        l.humidity_pct,
        l.battery_v,
        l.qc_flags,
        a.as_of,
        l.ts IS NULL OR arrow_cast(l.ts, 'Int64') < arrow_cast(a.as_of, 'Int64') - $2 * 1000 * CAST(s.cadence_s AS BIGINT) AS silent,
        coalesce(l.qc_flags & 4 = 4, false) AS stuck,
        coalesce(l.battery_v < $3, false) AS low_battery,
        n.night AS latest_night,
        n.uhi_mean_c AS latest_night_uhi_mean_c,
        n.uhi_max_c AS latest_night_uhi_max_c,
        n.hours_valid AS latest_night_hours_valid,
        c.night AS complete_night,
        c.uhi_mean_c AS complete_night_uhi_mean_c,
        c.uhi_max_c AS complete_night_uhi_max_c,
        c.completeness AS complete_night_completeness
    FROM sensors s
    LEFT JOIN latest_readings l ON l.network = s.network AND l.sensor_id = s.sensor_id
    LEFT JOIN as_of a ON a.network = s.network
    LEFT JOIN latest_night n ON n.network = s.network AND n.sensor_id = s.sensor_id AND n.k = 1
    LEFT JOIN complete_night c ON c.network = s.network AND c.sensor_id = s.sensor_id AND c.k = 1
    WHERE s.lat IS NOT NULL AND s.lon IS NOT NULL
)
-- One state per sensor, the first that applies, as the dashboard shows it.
SELECT
    *,
    CASE WHEN ts IS NULL THEN 'no_data' WHEN silent THEN 'silent' WHEN stuck THEN 'stuck' WHEN low_battery THEN 'low_battery' ELSE 'ok' END AS health
FROM judged
ORDER BY network, sensor_id
