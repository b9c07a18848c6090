-- network_calendar: one row per day of a network, as the dashboard's calendar colours it: the
-- night's heat island over the network's stations (uhi_nightly: nights with >= 80 % of their
-- hours; UHImax is the largest station's uhi_max_c, the mean is over stations) and the canicule
-- indicators (ibm: the warmest station's IBMn and IBMx against Sn and Sx, and how many stations
-- meet the criterion). $1: network, $2 and $3: the first and last day.
WITH nights AS (
    SELECT night AS day, max(uhi_max_c) AS uhi_max_c, avg(uhi_mean_c) AS uhi_mean_c,
           count(*) AS uhi_stations, sum(CAST(strong_uhi AS BIGINT)) AS strong_uhi_stations
    FROM uhi_nightly
    WHERE network = $1 AND night >= $2 AND night <= $3
    GROUP BY night
),
canicule AS (
    SELECT date AS day, max(ibmn_c) AS ibmn_max_c, max(ibmx_c) AS ibmx_max_c,
           min(tn_threshold_c) AS tn_threshold_c, min(tx_threshold_c) AS tx_threshold_c,
           count(*) AS ibm_stations, sum(CAST(canicule_criterion_met AS BIGINT)) AS criterion_met_stations,
           bool_or(provisional) AS ibm_provisional
    FROM ibm
    WHERE network = $1 AND date >= $2 AND date <= $3
    GROUP BY date
)
SELECT
    coalesce(n.day, c.day) AS day,
    n.uhi_max_c,
    n.uhi_mean_c,
    n.uhi_stations,
    n.strong_uhi_stations,
    c.ibmn_max_c,
    c.ibmx_max_c,
    c.tn_threshold_c,
    c.tx_threshold_c,
    c.ibm_stations,
    c.criterion_met_stations,
    c.ibm_provisional
FROM nights n
FULL OUTER JOIN canicule c ON c.day = n.day
ORDER BY day
