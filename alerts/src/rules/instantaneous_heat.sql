-- instantaneous_heat: {measure_name} at or above a level's threshold (yellow {yellow_c}, orange
-- {orange_c}, red {red_c} °C) for the last {duration_min} minutes at {min_sensors} sensor(s) or
-- more of an area. A sensor counts when its QC-passed readings (qc_flags & 31 = 0) cover the
-- duration (>= 80 % of the samples its cadence gives) and its newest reading is at most two
-- cadences old; its value is the minimum over the duration. An alert keeps a level while the
-- newest reading of {min_sensors} sensor(s) stays at or above its threshold - {clear_margin_c} °C.
WITH recent AS (
    SELECT r.network, r.sensor_id, r.ts, {measure} AS v
    FROM readings r
    WHERE r.network IN ({networks})
      AND r.qc_flags & 31 = 0
      AND r.ts > {at} - INTERVAL '{duration_min} minutes'
      AND r.ts <= {at}
),
per_sensor AS (
    SELECT
        r.network,
        {area_key} AS area,
        min(s.insee) AS insee,
        min(s.departement) AS departement,
        r.sensor_id,
        min(r.v) AS v_min,
        last_value(r.v ORDER BY r.ts) AS v_last,
        count(r.v) * min(s.cadence_s) >= 0.8 * {duration_min} * 60
            AND arrow_cast(max(r.ts), 'Int64') >= {at_ms} - 2000 * CAST(min(s.cadence_s) AS BIGINT) AS covered,
        count(r.v) AS samples
    FROM recent r
    JOIN sensors s ON s.network = r.network AND s.sensor_id = r.sensor_id
    GROUP BY r.network, {area_key}, r.sensor_id
),
-- every registered station of each area: the evaluated share of them is the completeness in space
registered AS ({registered_stations})
SELECT
    p.network,
    p.area,
    min(p.insee) AS insee,
    min(p.departement) AS departement,
    CASE
        WHEN sum(CAST(p.covered AND p.v_min >= {red_c} AS BIGINT)) >= {min_sensors} THEN 'red'
        WHEN sum(CAST(p.covered AND p.v_min >= {orange_c} AS BIGINT)) >= {min_sensors} THEN 'orange'
        WHEN sum(CAST(p.covered AND p.v_min >= {yellow_c} AS BIGINT)) >= {min_sensors} THEN 'yellow'
        ELSE 'green'
    END AS level,
    CASE
        WHEN sum(CAST(p.v_last >= {red_c} - {clear_margin_c} AS BIGINT)) >= {min_sensors} THEN 'red'
        WHEN sum(CAST(p.v_last >= {orange_c} - {clear_margin_c} AS BIGINT)) >= {min_sensors} THEN 'orange'
        WHEN sum(CAST(p.v_last >= {yellow_c} - {clear_margin_c} AS BIGINT)) >= {min_sensors} THEN 'yellow'
        ELSE 'green'
    END AS hold_level,
    round(max(CASE WHEN p.covered THEN p.v_min END), 2) AS value,
    round(max(p.v_last), 2) AS newest_max_c,
    '{measure_name}' AS measure,
    {yellow_c} AS yellow_threshold_c,
    {orange_c} AS orange_threshold_c,
    {red_c} AS red_threshold_c,
    {duration_min} AS duration_min,
    array_agg(p.sensor_id ORDER BY p.sensor_id) FILTER (WHERE p.covered AND p.v_min >= {yellow_c}) AS sensors,
    sum(CAST(p.covered AS BIGINT)) AS stations_evaluated,
    min(r.stations_registered) AS stations_registered,
    'QC-passed readings (qc_flags & 31 = 0), >= 80 % of the samples over the duration' AS qc_level
FROM per_sensor p
JOIN registered r ON r.network = p.network AND r.area = p.area
GROUP BY p.network, p.area
ORDER BY p.network, p.area
