-- uhi_night_summary: per sensor and night (labelled by its evening's date), the count, mean and
-- maximum of the hourly dT over the network's night window: a fixed UTC window, or sunset to
-- sunrise at the station. An hour belongs to the night its midpoint falls in. A period summary
-- (see period_summary.rs): kept per network-month for closed days, computed here otherwise;
-- `uhi_nightly` describes and filters it.
WITH labelled AS (
    SELECT
        u.network,
        u.sensor_id,
        u.uhi_c,
        u.reference_n,
        -- The hour's midpoint by integer arithmetic: timestamp + interval costs ~60 ns a row.
        CASE
            WHEN k.night_mode = 'sun' THEN night_date_sun(arrow_cast(arrow_cast(u.hour, 'Int64') + 1800000, 'Timestamp(Millisecond, Some("UTC"))'), k.lat, k.lon)
            ELSE night_date_utc(arrow_cast(arrow_cast(u.hour, 'Int64') + 1800000, 'Timestamp(Millisecond, Some("UTC"))'), k.night_start_utc_hour, k.night_end_utc_hour)
        END AS night
    FROM uhi_hourly u
    JOIN sensor_context k ON k.network = u.network AND k.sensor_id = u.sensor_id
)
SELECT
    network,
    sensor_id,
    night,
    count(*) AS hours_valid,
    avg(uhi_c) AS uhi_mean_c,
    max(uhi_c) AS uhi_max_c,
    min(reference_n) AS reference_n_min
FROM labelled
WHERE night IS NOT NULL
GROUP BY network, sensor_id, night
