-- strong_uhi_night: a night whose heat-island maximum (UHImax, `uhi_nightly`) exceeds
-- {threshold_c} °C (the Rennes network's "strong UHI") at {min_sensors} sensor(s) or more of an
-- area: level {level}. A night counts once it is over: all its hours in, or 10:00 UTC the next
-- day (after sunrise anywhere in metropolitan France). An alert keeps its level while UHImax
-- stays above {threshold_c} - {clear_margin_c} °C. Nights of the last {lookback_days} days are
-- returned, so late data that changes one is seen. Nights with >= 80 % of their hours valid, from
-- QC-passed hourly means against the network's reference.
WITH nights AS (
    SELECT
        u.*,
        {area_key} AS area,
        s.insee,
        s.departement
    FROM uhi_nightly u
    JOIN sensors s ON s.network = u.network AND s.sensor_id = u.sensor_id
    WHERE u.network IN ({networks})
      AND (u.hours_valid >= u.hours_expected OR CAST(arrow_cast(u.night, 'Int32') AS BIGINT) * 86400000 + 122400000 <= {at_ms})
      AND CAST(arrow_cast(u.night, 'Int32') AS BIGINT) * 86400000 <= {at_ms}
      AND CAST(arrow_cast(u.night, 'Int32') AS BIGINT) * 86400000 > {at_ms} - {lookback_days} * 86400000
),
-- every registered station of each area: the evaluated share of them is the completeness in space
registered AS ({registered_stations})
SELECT
    n.network,
    n.area,
    min(n.insee) AS insee,
    min(n.departement) AS departement,
    CAST(n.night AS VARCHAR) AS period,
    CASE WHEN sum(CAST(n.uhi_max_c > {threshold_c} AS BIGINT)) >= {min_sensors} THEN '{level}' ELSE 'green' END AS level,
    CASE WHEN sum(CAST(n.uhi_max_c > {threshold_c} - {clear_margin_c} AS BIGINT)) >= {min_sensors} THEN '{level}' ELSE 'green' END AS hold_level,
    round(max(n.uhi_max_c), 2) AS value,
    {threshold_c} AS threshold_c,
    array_agg(n.sensor_id ORDER BY n.sensor_id) FILTER (WHERE n.uhi_max_c > {threshold_c}) AS sensors,
    count(*) AS stations_evaluated,
    min(r.stations_registered) AS stations_registered,
    round(min(n.completeness), 3) AS min_night_completeness,
    min(n.reference_mode) AS reference_mode,
    min(n.time_window) AS time_window,
    'QC-passed hourly means (qc_flags & 31 = 0), nights with >= 80 % of their hours' AS qc_level
FROM nights n
JOIN registered r ON r.network = n.network AND r.area = n.area
GROUP BY n.network, n.area, n.night
ORDER BY n.network, n.area, n.night
