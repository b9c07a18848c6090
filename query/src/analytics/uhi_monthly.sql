-- uhi_monthly: per sensor and UTC month, the mean of the daily dT (uhi_daily) and of the
-- nightly dT (uhi_nightly, nights counted in the month of their evening), each given only when
-- at least 80 % of the month's days (nights) have a value; plus the frequency of strong-UHI
-- nights (UHImax > 4 degC).
WITH days AS (
    SELECT network, sensor_id, date_trunc('month', date) AS month, reference_mode, reference_stations,
           avg(uhi_mean_c) AS daily_uhi_mean_c, count(*) AS days_valid
    FROM uhi_daily
    GROUP BY network, sensor_id, date_trunc('month', date), reference_mode, reference_stations
),
nights AS (
    SELECT network, sensor_id, date_trunc('month', night) AS month, reference_mode, reference_stations,
           avg(uhi_mean_c) AS nightly_uhi_mean_c, avg(uhi_max_c) AS nightly_uhi_max_mean_c,
           count(*) AS nights_valid, sum(CASE WHEN strong_uhi THEN 1 ELSE 0 END) AS strong_uhi_nights
    FROM uhi_nightly
    GROUP BY network, sensor_id, date_trunc('month', night), reference_mode, reference_stations
),
joined AS (
    SELECT
        COALESCE(d.network, n.network) AS network,
        COALESCE(d.sensor_id, n.sensor_id) AS sensor_id,
        arrow_cast(COALESCE(d.month, n.month), 'Date32') AS month,
        COALESCE(d.reference_mode, n.reference_mode) AS reference_mode,
        COALESCE(d.reference_stations, n.reference_stations) AS reference_stations,
        d.daily_uhi_mean_c,
        COALESCE(d.days_valid, 0) AS days_valid,
        n.nightly_uhi_mean_c,
        n.nightly_uhi_max_mean_c,
        COALESCE(n.nights_valid, 0) AS nights_valid,
        COALESCE(n.strong_uhi_nights, 0) AS strong_uhi_nights
    FROM days d
    FULL OUTER JOIN nights n ON d.network = n.network AND d.sensor_id = n.sensor_id AND d.month = n.month
)
SELECT
    network,
    sensor_id,
    month,
    CAST(date_part('day', month + INTERVAL '1 month' - INTERVAL '1 day') AS BIGINT) AS days_in_month,
    CASE WHEN days_valid >= 0.8 * date_part('day', month + INTERVAL '1 month' - INTERVAL '1 day') THEN daily_uhi_mean_c END AS daily_uhi_mean_c,
    days_valid,
    CASE WHEN nights_valid >= 0.8 * date_part('day', month + INTERVAL '1 month' - INTERVAL '1 day') THEN nightly_uhi_mean_c END AS nightly_uhi_mean_c,
    CASE WHEN nights_valid >= 0.8 * date_part('day', month + INTERVAL '1 month' - INTERVAL '1 day') THEN nightly_uhi_max_mean_c END AS nightly_uhi_max_mean_c,
    nights_valid,
    strong_uhi_nights,
    CASE WHEN nights_valid > 0 THEN CAST(strong_uhi_nights AS DOUBLE) / nights_valid END AS strong_uhi_night_frequency,
    reference_mode,
    reference_stations,
    'UTC month; a mean needs >= 80 % of the days (nights)' AS time_window
FROM joined
