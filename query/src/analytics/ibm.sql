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
        CAST(round(d.tn_c * 100) AS BIGINT) AS tn_centi,
        CAST(round(d.tx_c * 100) AS BIGINT) AS tx_centi,
        d.tn_provisional OR d.tx_provisional AS day_provisional,
        n.ibm_alignment,
        n.tn_threshold_c,
        n.tx_threshold_c,
        n.thresholds_source,
        CASE WHEN n.ibm_alignment = 'trailing' THEN -1 ELSE 1 END AS step
    FROM daily_tn_tx d
    JOIN networks n ON n.network = d.network
),
-- The next two days with data (the previous two with trailing alignment), by lead() over the
-- days in the window's direction; the WHERE below checks they are the two calendar days that
-- follow, so a missing day breaks the window. (lead() is one pass; RANGE frames with sliding
-- sums took seconds here.)
neighbours AS (
    SELECT
        *,
        CASE WHEN step = 1 THEN lead(day, 1) OVER fwd ELSE lead(day, 1) OVER back END AS day_1,
        CASE WHEN step = 1 THEN lead(day, 2) OVER fwd ELSE lead(day, 2) OVER back END AS day_2,
        CASE WHEN step = 1 THEN lead(tn_centi, 1) OVER fwd ELSE lead(tn_centi, 1) OVER back END AS tn_1,
        CASE WHEN step = 1 THEN lead(tn_centi, 2) OVER fwd ELSE lead(tn_centi, 2) OVER back END AS tn_2,
        CASE WHEN step = 1 THEN lead(tx_centi, 1) OVER fwd ELSE lead(tx_centi, 1) OVER back END AS tx_1,
        CASE WHEN step = 1 THEN lead(tx_centi, 2) OVER fwd ELSE lead(tx_centi, 2) OVER back END AS tx_2,
        CASE WHEN step = 1 THEN lead(day_provisional, 1) OVER fwd ELSE lead(day_provisional, 1) OVER back END AS provisional_1,
        CASE WHEN step = 1 THEN lead(day_provisional, 2) OVER fwd ELSE lead(day_provisional, 2) OVER back END AS provisional_2
    FROM days
    WINDOW
        fwd AS (PARTITION BY network, sensor_id ORDER BY day),
        back AS (PARTITION BY network, sensor_id ORDER BY day DESC)
)
-- Sums in integer hundredths of a degree (the sensors' resolution): exact, so a mean exactly at
-- a threshold meets it.
SELECT
    network,
    sensor_id,
    date,
    (tn_centi + tn_1 + tn_2) / 300.0 AS ibmn_c,
    (tx_centi + tx_1 + tx_2) / 300.0 AS ibmx_c,
    tn_threshold_c,
    tx_threshold_c,
    tn_centi + tn_1 + tn_2 >= 3 * round(tn_threshold_c * 100) AND tx_centi + tx_1 + tx_2 >= 3 * round(tx_threshold_c * 100) AS canicule_criterion_met,
    day_provisional OR provisional_1 OR provisional_2 AS provisional,
    arrow_cast(least(day, day_2), 'Date32') AS window_first_day,
    arrow_cast(greatest(day, day_2), 'Date32') AS window_last_day,
    ibm_alignment,
    thresholds_source
FROM neighbours
WHERE day_1 = day + step AND day_2 = day + 2 * step
  AND tn_centi IS NOT NULL AND tn_1 IS NOT NULL AND tn_2 IS NOT NULL
  AND tx_centi IS NOT NULL AND tx_1 IS NOT NULL AND tx_2 IS NOT NULL
