-- hourly_raw: the mean of EVERY stored temperature of each sensor in [h, h+1) UTC, whatever its
-- single-sensor flags, with its completeness against the sensor's expected cadence: the input
-- of CrowdQC+ (`ilot qc`), which, like its reference implementation, quality-controls the raw
-- values of crowdsourced stations (the single-sensor flags stay in `readings.qc_flags` beside
-- it; `single_check_failures` counts the hour's readings that failed one). Not for the heat
-- views, which read `hourly`. Only registered sensors; filter on `date`.
SELECT
    h.network,
    h.sensor_id,
    h.date,
    h.hour,
    h.raw_samples AS samples,
    3600 / s.cadence_s AS expected_samples,
    CAST(h.raw_samples AS DOUBLE) * s.cadence_s / 3600.0 AS completeness,
    CAST(h.raw_samples AS DOUBLE) * s.cadence_s >= 0.8 * 3600.0 AS valid,
    CAST(h.raw_temperature_sum_centi AS DOUBLE) / (100.0 * h.raw_samples) AS temperature_mean_c,
    h.raw_samples - h.samples AS single_check_failures,
    s.cadence_s
FROM hourly_rollup h
JOIN sensors s ON s.network = h.network AND s.sensor_id = h.sensor_id
