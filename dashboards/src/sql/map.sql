-- map: every registered sensor with a position, as the dashboard's map draws it: its newest
-- reading (latest_readings, no scan), its health (silent: newest reading more than
-- silent_cadences cadences older than its network's newest reading, itself from registered
-- sensors, with a valid time stamp, and not after now; stuck: newest reading flagged STUCK,
-- qc_flags & 4; low battery: newest voltage under battery_low_v), the newest night of heat
-- island in progress or closed (uhi_night_summary, no completeness rule) and the newest night
-- complete enough for uhi_nightly (>= 80 % of its hours). $1: the oldest night to look at.
-- Thresholds: per network, those of the sensor_health rules in force that name it (rows that
-- map_api.rs puts in place of the networks placeholder, each network's name and thresholds
-- as parameters from $4 on), else $2 cadences and $3 V (the rules that cover every network, or the rule kind's
-- defaults). The network_as_of placeholder: network_as_of.sql.
WITH thresholds(network, silent_cadences, battery_low_v) AS (
    VALUES {networks}
),
as_of AS (
    {network_as_of}
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
        l.ts IS NULL
            OR arrow_cast(l.ts, 'Int64') < arrow_cast(a.as_of, 'Int64') - coalesce(t.silent_cadences, $2) * 1000 * CAST(s.cadence_s AS BIGINT) AS silent,
        coalesce(l.qc_flags & 4 = 4, false) AS stuck,
        coalesce(l.battery_v < coalesce(t.battery_low_v, $3), false) AS low_battery,
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
    LEFT JOIN thresholds t ON t.network = s.network
    LEFT JOIN latest_night n ON n.network = s.network AND n.sensor_id = s.sensor_id AND n.k = 1
    LEFT JOIN complete_night c ON c.network = s.network AND c.sensor_id = s.sensor_id AND c.k = 1
    WHERE s.lat IS NOT NULL AND s.lon IS NOT NULL
)
-- One state per sensor, the first that applies, as the dashboard shows it. Nights' values are
-- rounded to 0.01 K (readings have 0.01 °C resolution): the answer is a map, not an archive.
SELECT
    network, sensor_id, name, lat, lon, lcz, role, cadence_s,
    ts, temperature_c, humidity_pct, battery_v, qc_flags, as_of,
    CASE WHEN ts IS NULL THEN 'no_data' WHEN silent THEN 'silent' WHEN stuck THEN 'stuck' WHEN low_battery THEN 'low_battery' ELSE 'ok' END AS health,
    latest_night,
    round(latest_night_uhi_mean_c, 2) AS latest_night_uhi_mean_c,
    round(latest_night_uhi_max_c, 2) AS latest_night_uhi_max_c,
    latest_night_hours_valid,
    complete_night,
    round(complete_night_uhi_mean_c, 2) AS complete_night_uhi_mean_c,
    round(complete_night_uhi_max_c, 2) AS complete_night_uhi_max_c,
    round(complete_night_completeness, 2) AS complete_night_completeness
FROM judged
ORDER BY network, sensor_id
