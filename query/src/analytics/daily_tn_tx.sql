-- daily_tn_tx: Meteo-France climatological Tn and Tx per sensor, from QC-passed readings:
-- Tn(D) = minimum over [D-1 18:00, D 18:00) UTC, Tx(D) = maximum over [D 06:00, D+1 06:00) UTC.
-- A value is `provisional` until its window has closed; a closed window needs >= 80 % of the
-- expected samples, else the value is NULL (`*_completeness` says why). Crowdsourced networks
-- use only readings of the hours that passed their CrowdQC+ level. Both windows start and end
-- on the hour, so they are computed exactly from the hourly minima and maxima of `hourly`.
WITH q AS (
    SELECT h.network, h.sensor_id, arrow_cast(h.hour, 'Int64') AS t_ms, h.samples,
           h.temperature_min_c, h.temperature_max_c, h.cadence_s
    FROM hourly h
    JOIN networks n ON n.network = h.network
    LEFT JOIN crowdqc_passed p ON p.network = h.network AND p.sensor_id = h.sensor_id AND p.hour = h.hour
    WHERE NOT n.crowdsourced OR COALESCE(p.passed, false)
),
tn AS (
    SELECT network, sensor_id, (t_ms + 21600000) / 86400000 AS day, min(temperature_min_c) AS tn_c,
           sum(samples) AS tn_samples, 86400 / max(cadence_s) AS expected_samples
    FROM q
    GROUP BY network, sensor_id, (t_ms + 21600000) / 86400000
),
tx AS (
    SELECT network, sensor_id, (t_ms - 21600000) / 86400000 AS day, max(temperature_max_c) AS tx_c,
           sum(samples) AS tx_samples, 86400 / max(cadence_s) AS expected_samples
    FROM q
    GROUP BY network, sensor_id, (t_ms - 21600000) / 86400000
),
joined AS (
    SELECT
        COALESCE(tn.network, tx.network) AS network,
        COALESCE(tn.sensor_id, tx.sensor_id) AS sensor_id,
        COALESCE(tn.day, tx.day) AS day,
        tn.tn_c,
        COALESCE(tn.tn_samples, 0) AS tn_samples,
        tx.tx_c,
        COALESCE(tx.tx_samples, 0) AS tx_samples,
        COALESCE(tn.expected_samples, tx.expected_samples) AS expected_samples
    FROM tn
    FULL OUTER JOIN tx ON tn.network = tx.network AND tn.sensor_id = tx.sensor_id AND tn.day = tx.day
),
flagged AS (
    SELECT
        *,
        arrow_cast(arrow_cast(day, 'Int32'), 'Date32') AS date,
        arrow_cast(day * 86400000 + 64800000, 'Timestamp(Millisecond, Some("UTC"))') AS tn_window_end,
        arrow_cast(day * 86400000 + 108000000, 'Timestamp(Millisecond, Some("UTC"))') AS tx_window_end,
        CAST(tn_samples AS DOUBLE) / expected_samples AS tn_completeness,
        CAST(tx_samples AS DOUBLE) / expected_samples AS tx_completeness
    FROM joined
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
    tn_c >= 20.0 AS tropical_night,
    tx_c >= 30.0 AS hot_day
FROM flagged
