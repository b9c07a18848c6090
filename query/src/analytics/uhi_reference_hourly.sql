-- uhi_reference_hourly: the network's reference temperature each hour, by its reference mode
-- (`min` of the reference set, else the mean: `single` has one station, `network_mean` all),
-- from the valid, elevation-corrected hourly values, with the stations configured and used and
-- the elevation they are corrected to.
WITH by_hour AS (
    SELECT
        c.network,
        c.hour,
        min(c.temperature_corrected_c) AS min_c,
        avg(c.temperature_corrected_c) AS mean_c,
        count(*) AS reference_n,
        string_agg(c.sensor_id, ',' ORDER BY c.sensor_id) AS reference_used
    FROM hourly_corrected c
    JOIN uhi_reference_sensors rs ON rs.network = c.network AND rs.sensor_id = c.sensor_id
    GROUP BY c.network, c.hour
)
SELECT
    b.network,
    b.hour,
    n.reference_mode,
    CASE WHEN n.reference_mode = 'min' THEN b.min_c ELSE b.mean_c END AS reference_c,
    b.reference_n,
    b.reference_used,
    n.reference_sensors AS reference_stations,
    z.reference_elevation_m
FROM by_hour b
JOIN networks n ON n.network = b.network
LEFT JOIN uhi_reference_elevation z ON z.network = b.network
