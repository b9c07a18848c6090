-- uhi_daily: per sensor and UTC day, the mean of hourly dT, when at least 20 of the 24 hours
-- are valid (from the period summary `uhi_day_summary`).
WITH days AS (
    SELECT network, sensor_id, date, uhi_mean_c, uhi_max_c, hours_valid
    FROM uhi_day_summary
    WHERE hours_valid >= 20
)
SELECT
    d.network,
    d.sensor_id,
    d.date,
    d.uhi_mean_c,
    d.uhi_max_c,
    d.hours_valid,
    d.hours_valid / 24.0 AS completeness,
    n.reference_mode,
    n.reference_sensors AS reference_stations,
    'UTC day, mean of hourly values' AS time_window
FROM days d
JOIN networks n ON n.network = d.network
