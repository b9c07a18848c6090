-- uhi_lcz_nightly: Local-Climate-Zone-stratified nightly UHI, "dT LCZ k - LCZ D": per network,
-- night and LCZ class, the mean nightly dT of the class's stations minus that of the LCZ D
-- (low plants) stations, with both station counts.
WITH by_class AS (
    SELECT u.network, u.night, s.lcz, avg(u.uhi_mean_c) AS class_uhi_mean_c, count(*) AS stations,
           u.reference_mode, u.time_window
    FROM uhi_nightly u
    JOIN sensors s ON s.network = u.network AND s.sensor_id = u.sensor_id
    WHERE s.lcz IS NOT NULL
    GROUP BY u.network, u.night, s.lcz, u.reference_mode, u.time_window
)
SELECT
    k.network,
    k.night,
    k.lcz,
    concat('dT LCZ ', k.lcz, ' - LCZ D') AS label,
    k.class_uhi_mean_c - d.class_uhi_mean_c AS delta_vs_lcz_d_c,
    k.class_uhi_mean_c,
    k.stations,
    d.stations AS lcz_d_stations,
    k.reference_mode,
    k.time_window
FROM by_class k
JOIN by_class d ON d.network = k.network AND d.night = k.night AND d.lcz = 'D'
