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
    h.temperature_mean_c + k.elevation_correction_c AS temperature_corrected_c,
    k.elevation_corrected
FROM hourly h
JOIN sensor_context k ON k.network = h.network AND k.sensor_id = h.sensor_id
LEFT JOIN crowdqc_passed p ON p.network = h.network AND p.sensor_id = h.sensor_id AND p.hour = h.hour
WHERE h.valid AND (NOT k.crowdsourced OR COALESCE(p.passed, false))
