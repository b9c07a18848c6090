-- daily_tn_tx: Meteo-France climatological Tn and Tx per sensor, from QC-passed readings:
-- Tn(D) = minimum over [D-1 18:00, D 18:00) UTC, Tx(D) = maximum over [D 06:00, D+1 06:00) UTC.
-- A value is `provisional` until its window has closed; a closed window needs >= 80 % of the
-- expected samples, else the value is NULL (`*_completeness` says why), and so is its flag
-- (tropical_night, hot_day). Crowdsourced networks
-- use only readings of the hours that passed their CrowdQC+ level. Both windows start and end
-- on the hour, so they are computed exactly from the hourly minima and maxima of `hourly`
-- (the period summary `tn_tx_day_summary`).
WITH flagged AS (
    SELECT
        *,
        arrow_cast(CAST(arrow_cast(date, 'Int32') AS BIGINT) * 86400000 + 64800000, 'Timestamp(Millisecond, Some("UTC"))') AS tn_window_end,
        arrow_cast(CAST(arrow_cast(date, 'Int32') AS BIGINT) * 86400000 + 108000000, 'Timestamp(Millisecond, Some("UTC"))') AS tx_window_end,
        CAST(tn_samples AS DOUBLE) / expected_samples AS tn_completeness,
        CAST(tx_samples AS DOUBLE) / expected_samples AS tx_completeness
    FROM tn_tx_day_summary
)
SELECT
    network,
    sensor_id,
    date,
    CASE WHEN now() < tn_window_end OR tn_completeness >= 0.8 THEN tn_c END AS tn_c,
    CASE WHEN now() < tx_window_end OR tx_completeness >= 0.8 THEN tx_c END AS tx_c,
    now() < tn_window_end AS tn_provisional,
    now() < tx_window_end AS tx_provisional,
    tn_completeness,
    tx_completeness,
    tn_samples,
    tx_samples,
    expected_samples,
    tn_window_end - INTERVAL '24 hours' AS tn_window_start,
    tn_window_end,
    tx_window_end - INTERVAL '24 hours' AS tx_window_start,
    tx_window_end,
    -- The flags follow their value: no flag from a closed window below 80 %.
    CASE WHEN now() < tn_window_end OR tn_completeness >= 0.8 THEN tn_c >= 20.0 END AS tropical_night,
    CASE WHEN now() < tx_window_end OR tx_completeness >= 0.8 THEN tx_c >= 30.0 END AS hot_day
FROM flagged
