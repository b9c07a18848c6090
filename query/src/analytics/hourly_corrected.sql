-- hourly_corrected: valid hourly means, elevation-corrected to the network's reference
-- elevation (no correction where either elevation is unknown). For crowdsourced networks only
-- the hours that passed the network's CrowdQC+ level (crowdqc_passed) are kept.
SELECT
    h.network,
    h.sensor_id,
    h.date,
    h.hour,
    h.completeness,
    h.temperature_mean_c,
    h.temperature_mean_c + COALESCE(0.0065 * (s.elevation_m - z.reference_elevation_m), 0.0) AS temperature_corrected_c,
    s.elevation_m IS NOT NULL AND z.reference_elevation_m IS NOT NULL AS elevation_corrected
FROM hourly h
JOIN sensors s ON s.network = h.network AND s.sensor_id = h.sensor_id
JOIN networks n ON n.network = h.network
LEFT JOIN uhi_reference_elevation z ON z.network = h.network
LEFT JOIN crowdqc_passed p ON p.network = h.network AND p.sensor_id = h.sensor_id AND p.hour = h.hour
WHERE h.valid AND (NOT n.crowdsourced OR COALESCE(p.passed, false))
