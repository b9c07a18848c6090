-- observed_canicule: ilot's observed equivalent of the canicule criterion, per area and per
-- 3-day window of closed climatological days (domain.md §4): orange when IBMn >= Sn and
-- IBMx >= Sx (the `ibm` view's criterion, département thresholds from the registry) at
-- {min_sensors} station(s) or more of the area; yellow when both are within {yellow_margin_c} °C of
-- their thresholds, or when the window's last day alone reaches both (a heat peak). An alert
-- keeps a level while both indicators stay above threshold - {clear_margin_c} °C. Windows of the
-- last {lookback_days} days are returned, so late data that changes one is seen. QC-passed readings
-- only (through `ibm` ← `daily_tn_tx` ← `hourly`); each day of a window needs 80 % of its samples.
WITH per_sensor AS (
    SELECT
        i.network,
        {area_key} AS area,
        s.insee,
        s.departement,
        i.sensor_id,
        i.window_first_day,
        i.window_last_day,
        round(i.ibmn_c, 2) AS ibmn_c,
        round(i.ibmx_c, 2) AS ibmx_c,
        i.tn_threshold_c,
        i.tx_threshold_c,
        i.thresholds_source,
        i.ibm_alignment,
        i.canicule_criterion_met AS orange_raise,
        i.ibmn_c >= i.tn_threshold_c - {clear_margin_c} AND i.ibmx_c >= i.tx_threshold_c - {clear_margin_c} AS orange_hold,
        (i.ibmn_c >= i.tn_threshold_c - {yellow_margin_c} AND i.ibmx_c >= i.tx_threshold_c - {yellow_margin_c})
            OR (d.tn_c >= i.tn_threshold_c AND d.tx_c >= i.tx_threshold_c) AS yellow_raise,
        (i.ibmn_c >= i.tn_threshold_c - {yellow_margin_c} - {clear_margin_c} AND i.ibmx_c >= i.tx_threshold_c - {yellow_margin_c} - {clear_margin_c})
            OR (d.tn_c >= i.tn_threshold_c - {clear_margin_c} AND d.tx_c >= i.tx_threshold_c - {clear_margin_c}) AS yellow_hold
    FROM ibm i
    JOIN sensors s ON s.network = i.network AND s.sensor_id = i.sensor_id
    LEFT JOIN daily_tn_tx d ON d.network = i.network AND d.sensor_id = i.sensor_id AND d.date = i.window_last_day
    WHERE i.network IN ({networks})
      AND NOT i.provisional
      -- closed as of the evaluation: the last day's Tx window ends at D+1 06:00 UTC
      AND CAST(arrow_cast(i.window_last_day, 'Int32') AS BIGINT) * 86400000 + 108000000 <= {at_ms}
      AND CAST(arrow_cast(i.window_last_day, 'Int32') AS BIGINT) * 86400000 > {at_ms} - {lookback_days} * 86400000
),
-- Every window's day, for the completeness of the days the indicators were computed from.
days AS (
    SELECT p.network, p.area, p.sensor_id, p.window_last_day, min(least(d.tn_completeness, d.tx_completeness)) AS completeness
    FROM per_sensor p
    JOIN daily_tn_tx d ON d.network = p.network AND d.sensor_id = p.sensor_id AND d.date BETWEEN p.window_first_day AND p.window_last_day
    GROUP BY p.network, p.area, p.sensor_id, p.window_last_day
),
-- every registered station of each area: the evaluated share of them is the completeness in space
registered AS ({registered_stations})
SELECT
    p.network,
    p.area,
    min(p.insee) AS insee,
    min(p.departement) AS departement,
    CAST(p.window_last_day AS VARCHAR) AS period,
    CASE
        WHEN sum(CAST(p.orange_raise AS BIGINT)) >= {min_sensors} THEN 'orange'
        WHEN sum(CAST(p.orange_raise OR p.yellow_raise AS BIGINT)) >= {min_sensors} THEN 'yellow'
        ELSE 'green'
    END AS level,
    CASE
        WHEN sum(CAST(p.orange_hold AS BIGINT)) >= {min_sensors} THEN 'orange'
        WHEN sum(CAST(p.orange_hold OR p.yellow_hold AS BIGINT)) >= {min_sensors} THEN 'yellow'
        ELSE 'green'
    END AS hold_level,
    max(p.ibmx_c) AS value,
    max(p.ibmn_c) AS ibmn_max_c,
    max(p.ibmx_c) AS ibmx_max_c,
    min(p.tn_threshold_c) AS tn_threshold_c,
    min(p.tx_threshold_c) AS tx_threshold_c,
    min(p.thresholds_source) AS thresholds_source,
    min(p.ibm_alignment) AS ibm_alignment,
    CAST(min(p.window_first_day) AS VARCHAR) AS window_start,
    CAST(max(p.window_last_day) AS VARCHAR) AS window_end,
    array_agg(p.sensor_id ORDER BY p.sensor_id) AS sensors,
    array_agg(p.sensor_id ORDER BY p.sensor_id) FILTER (WHERE p.orange_raise) AS sensors_meeting_criterion,
    count(*) AS stations_evaluated,
    min(r.stations_registered) AS stations_registered,
    round(min(d.completeness), 3) AS min_day_completeness,
    'QC-passed readings (qc_flags & 31 = 0), days with >= 80 % of their samples' AS qc_level
FROM per_sensor p
JOIN days d ON d.network = p.network AND d.sensor_id = p.sensor_id AND d.window_last_day = p.window_last_day
JOIN registered r ON r.network = p.network AND r.area = p.area
GROUP BY p.network, p.area, p.window_last_day
ORDER BY p.network, p.area, p.window_last_day
