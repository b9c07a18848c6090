-- network_as_of: per network, its newest reading from a registered sensor with a valid time
-- stamp, not after now: the clock the map judges its sensors' silence by, and from which it
-- looks back for nights. One sensor with a wrong clock (flagged TIMESTAMP, qc_flags & 8) must
-- not make the others silent.
SELECT l.network, least(max(l.ts), arrow_cast(now(), 'Timestamp(Millisecond, Some("UTC"))')) AS as_of
FROM latest_readings l
JOIN sensors s ON s.network = l.network AND s.sensor_id = l.sensor_id
WHERE l.qc_flags & 8 = 0
GROUP BY l.network
