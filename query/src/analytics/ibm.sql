-- ibm: the canicule indicators per sensor: IBMn(D) and IBMx(D), 3-day means of daily Tn and
-- Tx (window D..D+2, or D-2..D with ibm_alignment = 'trailing'), given only when all three
-- days have a value; compared with the departement thresholds in force (Sn, Sx). The
-- criterion is met when IBMn >= Sn and IBMx >= Sx. This is ilot's own computation from
-- observations, never the official vigilance.
WITH days AS (
    SELECT
        d.network,
        d.sensor_id,
        d.date,
        arrow_cast(d.date, 'Int32') AS day,
        d.tn_c,
        d.tx_c,
        CASE WHEN d.tn_provisional OR d.tx_provisional THEN 1 ELSE 0 END AS day_provisional,
        n.ibm_alignment,
        n.tn_threshold_c,
        n.tx_threshold_c,
        n.thresholds_source
    FROM daily_tn_tx d
    JOIN networks n ON n.network = d.network
),
-- Both alignments as window frames over the day number (RANGE: a missing day is missing, not
-- replaced by the next one); each network's alignment picks one.
windows AS (
    SELECT
        network,
        sensor_id,
        date,
        ibm_alignment,
        tn_threshold_c,
        tx_threshold_c,
        thresholds_source,
        CASE WHEN ibm_alignment = 'trailing' THEN avg(tn_c) OVER back ELSE avg(tn_c) OVER fwd END AS ibmn_c,
        CASE WHEN ibm_alignment = 'trailing' THEN avg(tx_c) OVER back ELSE avg(tx_c) OVER fwd END AS ibmx_c,
        CASE WHEN ibm_alignment = 'trailing' THEN count(tn_c) OVER back ELSE count(tn_c) OVER fwd END AS tn_days,
        CASE WHEN ibm_alignment = 'trailing' THEN count(tx_c) OVER back ELSE count(tx_c) OVER fwd END AS tx_days,
        CASE WHEN ibm_alignment = 'trailing' THEN max(day_provisional) OVER back ELSE max(day_provisional) OVER fwd END = 1 AS provisional,
        CASE WHEN ibm_alignment = 'trailing' THEN min(date) OVER back ELSE min(date) OVER fwd END AS window_first_day,
        CASE WHEN ibm_alignment = 'trailing' THEN max(date) OVER back ELSE max(date) OVER fwd END AS window_last_day
    FROM days
    WINDOW
        fwd AS (PARTITION BY network, sensor_id ORDER BY day RANGE BETWEEN CURRENT ROW AND 2 FOLLOWING),
        back AS (PARTITION BY network, sensor_id ORDER BY day RANGE BETWEEN 2 PRECEDING AND CURRENT ROW)
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
