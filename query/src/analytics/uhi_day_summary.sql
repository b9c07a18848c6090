-- uhi_day_summary: per sensor and UTC day, the count, mean and maximum of hourly dT. A period
-- summary (see period_summary.rs): kept per network-month for closed days, computed here
-- otherwise; `uhi_daily` applies the completeness rule and describes it.
SELECT network, sensor_id, date, avg(uhi_c) AS uhi_mean_c, max(uhi_c) AS uhi_max_c, count(*) AS hours_valid
FROM uhi_hourly
GROUP BY network, sensor_id, date
