-- sensor_health: per network, the sensors a technician must see, in one alert (a dead gateway
-- is one alert listing its sensors, not one per sensor): silent (newest reading more than
-- {silent_cadences} cadences older than the evaluation time, which follows the network's own
-- data), stuck (newest reading flagged STUCK, qc_flags & 4) and low battery (newest battery
-- voltage under {battery_low_v} V). Level {level} when at least one sensor needs attention.
WITH state AS (
    SELECT
        s.network,
        s.sensor_id,
        l.ts,
        l.ts IS NULL OR arrow_cast(l.ts, 'Int64') < {at_ms} - {silent_cadences} * 1000 * CAST(s.cadence_s AS BIGINT) AS silent,
        coalesce(l.qc_flags & 4 = 4, false) AS stuck,
        coalesce(l.battery_v < {battery_low_v}, false) AS low_battery
    FROM sensors s
    LEFT JOIN latest_readings l ON l.network = s.network AND l.sensor_id = s.sensor_id
    WHERE s.network IN ({networks})
)
SELECT
    network,
    network AS area,
    CASE WHEN sum(CAST(silent OR stuck OR low_battery AS BIGINT)) > 0 THEN '{level}' ELSE 'green' END AS level,
    CAST(sum(CAST(silent OR stuck OR low_battery AS BIGINT)) AS DOUBLE) AS value,
    array_agg(sensor_id ORDER BY sensor_id) FILTER (WHERE silent OR stuck OR low_battery) AS sensors,
    array_agg(sensor_id ORDER BY sensor_id) FILTER (WHERE silent) AS silent_sensors,
    array_agg(sensor_id ORDER BY sensor_id) FILTER (WHERE stuck) AS stuck_sensors,
    array_agg(sensor_id ORDER BY sensor_id) FILTER (WHERE low_battery) AS low_battery_sensors,
    count(*) AS sensors_registered,
    {silent_cadences} AS silent_after_cadences,
    {battery_low_v} AS battery_low_v,
    'newest reading of each registered sensor (latest_readings)' AS qc_level
FROM state
GROUP BY network
ORDER BY network
