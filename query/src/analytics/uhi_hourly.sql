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
    r.reference_stations,
    r.reference_used,
    r.reference_n,
    r.reference_elevation_m,
    c.elevation_corrected,
    c.completeness,
    'hour' AS time_window
-- The reference (one row per network-hour) first: DataFusion builds its hash table from the
-- left side, and the sensor-hours are many times larger.
FROM uhi_reference_hourly r
JOIN hourly_corrected c ON c.network = r.network AND c.hour = r.hour
