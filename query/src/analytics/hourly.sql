-- hourly: the mean of each sensor's QC-passed readings in [h, h+1) UTC, with its completeness
-- against the sensor's expected cadence. An hour is `valid` with >= 80 % of the expected
-- samples (10 of 12 at 5 minutes). Only registered sensors; QC-passed means no failed
-- temperature check (qc_flags & 31 = 0: range, step, stuck, timestamp, conflict), applied when
-- the `hourly_rollup` is built; hours with no QC-passed reading are absent. Filter on `date`
-- (the UTC day of the hour) to read only the partitions needed. CrowdQC+ reads `hourly_raw`.
SELECT
    h.network,
    h.sensor_id,
    h.date,
    h.hour,
    h.samples,
    3600 / s.cadence_s AS expected_samples,
    CAST(h.samples AS DOUBLE) * s.cadence_s / 3600.0 AS completeness,
    CAST(h.samples AS DOUBLE) * s.cadence_s >= 0.8 * 3600.0 AS valid,
    CAST(h.temperature_sum_centi AS DOUBLE) / (100.0 * h.samples) AS temperature_mean_c,
    h.temperature_min_c,
    h.temperature_max_c,
    s.cadence_s
FROM hourly_rollup h
JOIN sensors s ON s.network = h.network AND s.sensor_id = h.sensor_id
WHERE h.samples > 0
