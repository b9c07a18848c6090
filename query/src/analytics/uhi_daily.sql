-- uhi_daily: per sensor and UTC day, the mean of hourly dT, when at least 20 of the 24 hours
-- are valid.
SELECT
    network,
    sensor_id,
    arrow_cast(hour, 'Date32') AS date,
    avg(uhi_c) AS uhi_mean_c,
    max(uhi_c) AS uhi_max_c,
    count(*) AS hours_valid,
    count(*) / 24.0 AS completeness,
    reference_mode,
    reference_stations,
    'UTC day, mean of hourly values' AS time_window
FROM uhi_hourly
GROUP BY network, sensor_id, arrow_cast(hour, 'Date32'), reference_mode, reference_stations
HAVING count(*) >= 20
