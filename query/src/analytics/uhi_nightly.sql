-- uhi_nightly: per sensor and night (labelled by its evening's date), the mean and the maximum
-- (UHImax) of hourly dT over the network's night window: a fixed UTC window, or sunset to
-- sunrise at the station. An hour belongs to the night its midpoint falls in. Nights with
-- fewer than 80 % of their hours valid are left out; `completeness` says how full each was.
-- The per-night aggregates come from the period summary `uhi_night_summary`.
WITH
-- How the night was computed, joined once per night rather than carried by every hour.
described AS (
    SELECT
        g.*,
        k.night_mode,
        k.night_start_utc_hour,
        k.night_end_utc_hour,
        n.reference_mode,
        n.reference_sensors AS reference_stations,
        CASE
            WHEN k.night_mode = 'sun' THEN round((arrow_cast(sunrise(g.night + INTERVAL '1 day', k.lat, k.lon), 'Int64') - arrow_cast(sunset(g.night, k.lat, k.lon), 'Int64')) / 3600000.0)
            ELSE CAST((k.night_end_utc_hour - k.night_start_utc_hour + 24) % 24 AS DOUBLE)
        END AS hours_expected
    FROM uhi_night_summary g
    JOIN sensor_context k ON k.network = g.network AND k.sensor_id = g.sensor_id
    JOIN networks n ON n.network = g.network
)
SELECT
    network,
    sensor_id,
    night,
    uhi_mean_c,
    uhi_max_c,
    uhi_max_c > 4.0 AS strong_uhi,
    hours_valid,
    CAST(hours_expected AS BIGINT) AS hours_expected,
    hours_valid / hours_expected AS completeness,
    reference_mode,
    reference_stations,
    reference_n_min,
    CASE
        WHEN night_mode = 'sun' THEN 'night sunset-sunrise'
        ELSE concat('night ', lpad(CAST(night_start_utc_hour AS VARCHAR), 2, '0'), ':00-', lpad(CAST(night_end_utc_hour AS VARCHAR), 2, '0'), ':00 UTC')
    END AS time_window
FROM described
-- A night of no whole hour (sun mode near the polar day) has nothing to measure.
WHERE hours_expected > 0 AND hours_valid >= 0.8 * hours_expected
