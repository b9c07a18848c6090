-- network_calendar: one row per day of a network, as the dashboard's calendar colours it:
-- - the heat island of the night that starts on the evening of `day` (uhi_nightly: nights with
--   >= 80 % of their hours), over the urban stations (the rural references' own dT is about 0):
--   UHImax is the largest station uhi_max_c, the mean is over stations;
-- - the canicule indicators of `day` (ibm: its 3-day window): the highest IBMn and the highest
--   IBMx over the stations (possibly two stations), Sn and Sx, and how many stations meet the
--   criterion (IBMn >= Sn and IBMx >= Sx at the same station).
-- $1: network, $2 and $3: the first and last day.
WITH nights AS (
    SELECT u.night AS day, max(u.uhi_max_c) AS uhi_max_c, avg(u.uhi_mean_c) AS uhi_mean_c,
           count(*) AS uhi_stations, sum(CAST(u.strong_uhi AS BIGINT)) AS strong_uhi_stations
    FROM uhi_nightly u
    JOIN sensors s ON s.network = u.network AND s.sensor_id = u.sensor_id
    WHERE u.network = $1 AND u.night >= $2 AND u.night <= $3 AND s.role IS DISTINCT FROM 'rural'
    GROUP BY u.night
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
