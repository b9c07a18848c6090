-- ibm: the canicule indicators per sensor: IBMn(D) and IBMx(D), 3-day means of daily Tn and
-- Tx (window D..D+2, or D-2..D with ibm_alignment = 'trailing'), given only when all three
-- days have a value; compared with the departement thresholds in force (Sn, Sx). The
-- criterion is met when IBMn >= Sn and IBMx >= Sx. This is ilot's own computation from
-- observations, never the official vigilance.
WITH windows AS (
    SELECT
        d.network,
        d.sensor_id,
        d.date,
        n.ibm_alignment,
        n.tn_threshold_c,
        n.tx_threshold_c,
        n.thresholds_source,
        avg(w.tn_c) AS ibmn_c,
        avg(w.tx_c) AS ibmx_c,
        count(w.tn_c) AS tn_days,
        count(w.tx_c) AS tx_days,
        bool_or(w.tn_provisional OR w.tx_provisional) AS provisional,
        min(w.date) AS window_first_day,
        max(w.date) AS window_last_day
    FROM daily_tn_tx d
    JOIN networks n ON n.network = d.network
    JOIN daily_tn_tx w ON w.network = d.network AND w.sensor_id = d.sensor_id
    WHERE (n.ibm_alignment = 'forward' AND w.date >= d.date AND w.date <= d.date + INTERVAL '2 days')
       OR (n.ibm_alignment = 'trailing' AND w.date >= d.date - INTERVAL '2 days' AND w.date <= d.date)
    GROUP BY d.network, d.sensor_id, d.date, n.ibm_alignment, n.tn_threshold_c, n.tx_threshold_c, n.thresholds_source
)
SELECT
    network,
    sensor_id,
    date,
    ibmn_c,
    ibmx_c,
    tn_threshold_c,
    tx_threshold_c,
    ibmn_c >= tn_threshold_c AND ibmx_c >= tx_threshold_c AS canicule_criterion_met,
    provisional,
    window_first_day,
    window_last_day,
    ibm_alignment,
    thresholds_source
FROM windows
WHERE tn_days = 3 AND tx_days = 3
