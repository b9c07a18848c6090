-- uhi_hourly: hourly UHI intensity dT = T'_sensor - T_reference, only when both hourly values
-- are valid. Every row says how it was computed: reference mode, configured and used stations,
-- reference elevation, the sensor hour's completeness. Filter on `date` to prune partitions.
SELECT
    c.network,
    c.sensor_id,
    c.date,
    c.hour,
    c.temperature_mean_c AS temperature_c,
    c.temperature_corrected_c,
    r.reference_c,
    c.temperature_corrected_c - r.reference_c AS uhi_c,
    r.reference_mode,
    n.reference_sensors AS reference_stations,
    r.reference_used,
    r.reference_n,
    z.reference_elevation_m,
    c.elevation_corrected,
    c.completeness,
    'hour' AS time_window
FROM hourly_corrected c
JOIN uhi_reference_hourly r ON r.network = c.network AND r.hour = c.hour
JOIN networks n ON n.network = c.network
LEFT JOIN uhi_reference_elevation z ON z.network = c.network
