-- uhi_reference_elevation: the elevation every station of a network is corrected to before
-- comparison (T' = T + 0.0065 (z - z_ref)): the mean elevation of its reference stations.
-- NULL when none has a known elevation (then no correction is applied).
SELECT rs.network, avg(s.elevation_m) AS reference_elevation_m
FROM uhi_reference_sensors rs
JOIN sensors s ON s.network = rs.network AND s.sensor_id = rs.sensor_id
GROUP BY rs.network
