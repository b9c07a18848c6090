-- uhi_tn_tx: dTn(D) = Tn_sensor(D) - Tn_reference(D) and dTx(D) likewise, from daily_tn_tx,
-- elevation-corrected like the hourly values, the reference formed by the network's reference
-- mode from the reference stations that have a value that day.
WITH corrected AS (
    SELECT d.network, d.sensor_id, d.date, d.tn_provisional, d.tx_provisional,
           d.tn_c + k.elevation_correction_c AS tn_corr,
           d.tx_c + k.elevation_correction_c AS tx_corr
    FROM daily_tn_tx d
    JOIN sensor_context k ON k.network = d.network AND k.sensor_id = d.sensor_id
),
reference AS (
    SELECT c.network, c.date, n.reference_mode,
           CASE WHEN n.reference_mode = 'min' THEN min(c.tn_corr) ELSE avg(c.tn_corr) END AS reference_tn_c,
           CASE WHEN n.reference_mode = 'min' THEN min(c.tx_corr) ELSE avg(c.tx_corr) END AS reference_tx_c,
           count(c.tn_corr) AS reference_tn_n,
           count(c.tx_corr) AS reference_tx_n
    FROM corrected c
    JOIN uhi_reference_sensors rs ON rs.network = c.network AND rs.sensor_id = c.sensor_id
    JOIN networks n ON n.network = c.network
    GROUP BY c.network, c.date, n.reference_mode
)
SELECT
    c.network,
    c.sensor_id,
    c.date,
    c.tn_corr - r.reference_tn_c AS delta_tn_c,
    c.tx_corr - r.reference_tx_c AS delta_tx_c,
    r.reference_tn_c,
    r.reference_tx_c,
    r.reference_tn_n,
    r.reference_tx_n,
    c.tn_provisional,
    c.tx_provisional,
    r.reference_mode,
    n.reference_sensors AS reference_stations,
    'climatological day (Tn 18-18 UTC, Tx 06-06 UTC)' AS time_window
FROM corrected c
JOIN reference r ON r.network = c.network AND r.date = c.date
JOIN networks n ON n.network = c.network
