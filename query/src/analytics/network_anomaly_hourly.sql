-- network_anomaly_hourly: each station's spatial anomaly a_i(t) = T'_i(t) - mean_j T'_j(t)
-- (and against the median) over the network's valid, elevation-corrected hourly values; needs
-- a stable station set: `stations` says how many were in the mean.
WITH network_hour AS (
    SELECT network, hour, avg(temperature_corrected_c) AS network_mean_c,
           median(temperature_corrected_c) AS network_median_c, count(*) AS stations
    FROM hourly_corrected
    GROUP BY network, hour
)
SELECT
    c.network,
    c.sensor_id,
    c.hour,
    c.temperature_corrected_c,
    c.temperature_corrected_c - m.network_mean_c AS anomaly_mean_c,
    c.temperature_corrected_c - m.network_median_c AS anomaly_median_c,
    m.network_mean_c,
    m.network_median_c,
    m.stations,
    c.completeness,
    'hour' AS time_window
FROM hourly_corrected c
JOIN network_hour m ON m.network = c.network AND m.hour = c.hour
