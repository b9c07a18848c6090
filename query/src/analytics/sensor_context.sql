-- sensor_context: one row per registered sensor with what the heat views need from the
-- registry, joined once here rather than on every hourly row: its network's settings and its
-- elevation correction to the network's reference elevation (T' = T + 0.0065 (z - z_ref),
-- none where either elevation is unknown).
SELECT
    s.network,
    s.sensor_id,
    s.lat,
    s.lon,
    s.elevation_m,
    z.reference_elevation_m,
    COALESCE(0.0065 * (s.elevation_m - z.reference_elevation_m), 0.0) AS elevation_correction_c,
    s.elevation_m IS NOT NULL AND z.reference_elevation_m IS NOT NULL AS elevation_corrected,
    n.crowdsourced,
    n.night_mode,
    n.night_start_utc_hour,
    n.night_end_utc_hour
FROM sensors s
JOIN networks n ON n.network = s.network
LEFT JOIN uhi_reference_elevation z ON z.network = s.network
