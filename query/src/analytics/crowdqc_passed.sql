-- crowdqc_passed: for crowdsourced networks, whether each station-hour passed the CrowdQC+
-- level the network requires (`networks.crowdqc_level`), from the last `ilot qc` run.
-- Hours the job has not covered yet are absent, and so not passed.
SELECT
    q.network,
    q.sensor_id,
    q.hour,
    CASE n.crowdqc_level
        WHEN 'm4' THEN q.m4
        WHEN 'm5' THEN q.m5
        WHEN 'o1' THEN q.o1
        WHEN 'o2' THEN q.o2
        WHEN 'o3' THEN q.o3
    END AS passed,
    n.crowdqc_level
FROM crowdqc q
JOIN networks n ON n.network = q.network
WHERE n.crowdsourced
