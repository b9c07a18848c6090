-- tn_tx_day_summary: per sensor and climatological day D, the extremes and sample counts of its
-- two windows, Tn over [D-1 18:00, D 18:00) and Tx over [D 06:00, D+1 06:00) UTC, from the
-- hourly minima and maxima of QC-passed readings (CrowdQC+-passed hours for crowdsourced
-- networks). Both windows start and end on the hour, so this is exact. A period summary (see
-- period_summary.rs): kept per network-month for closed days, computed here otherwise;
-- `daily_tn_tx` applies completeness and the provisional flag.
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
)
SELECT
    COALESCE(tn.network, tx.network) AS network,
    COALESCE(tn.sensor_id, tx.sensor_id) AS sensor_id,
    arrow_cast(arrow_cast(COALESCE(tn.day, tx.day), 'Int32'), 'Date32') AS date,
    tn.tn_c,
    COALESCE(tn.tn_samples, 0) AS tn_samples,
    tx.tx_c,
    COALESCE(tx.tx_samples, 0) AS tx_samples,
    COALESCE(tn.expected_samples, tx.expected_samples) AS expected_samples
FROM tn
FULL OUTER JOIN tx ON tn.network = tx.network AND tn.sensor_id = tx.sensor_id AND tn.day = tx.day
