-- uhi_reference_hourly: the network's reference temperature each hour, by its reference mode
-- (`min` of the reference set, else the mean: `single` has one station, `network_mean` all),
-- from the valid, elevation-corrected hourly values, with the stations actually used.
SELECT
    c.network,
    c.hour,
    n.reference_mode,
    CASE WHEN n.reference_mode = 'min' THEN min(c.temperature_corrected_c) ELSE avg(c.temperature_corrected_c) END AS reference_c,
    count(*) AS reference_n,
    string_agg(c.sensor_id, ',' ORDER BY c.sensor_id) AS reference_used
FROM hourly_corrected c
JOIN uhi_reference_sensors rs ON rs.network = c.network AND rs.sensor_id = c.sensor_id
JOIN networks n ON n.network = c.network
GROUP BY c.network, c.hour, n.reference_mode
