//! Payloads for the domain's worked example (Toulouse, 21/36, met from D+1).

use super::*;
use crate::lifecycle::{Observation, Trend};
use chrono::{TimeZone, Utc};

pub(crate) fn canicule_rule() -> Rule {
    toml::from_str::<Rule>("id = \"canicule\"\nkind = \"observed_canicule\"\nnetworks = [\"toulouse\"]\n").unwrap()
}

pub(crate) fn canicule_event(change: Change, level: Level, previous_level: Level) -> AlertEvent {
    let evidence = json!({
        "network": "toulouse", "insee": "31555", "departement": "31", "sensors": ["tls-001", "tls-002"],
        "ibmn_max_c": 22.33, "ibmx_max_c": 36.0, "tn_threshold_c": 21.0, "tx_threshold_c": 36.0,
        "window_start": "2026-07-15", "window_end": "2026-07-17", "stations_evaluated": 2, "stations_registered": 2,
        "min_day_completeness": 0.96, "qc_level": "QC-passed readings (qc_flags & 31 = 0), days with >= 80 % of their samples",
        "sensors_meeting_criterion": ["tls-001", "tls-002"], "thresholds_source": "Météo-France 2024"
    });
    let issued = Utc.with_ymd_and_hms(2026, 7, 18, 6, 5, 0).unwrap();
    AlertEvent {
        alert_id: "alr_1".into(),
        seq: 2,
        change,
        level,
        previous_level,
        onset: Utc.with_ymd_and_hms(2026, 7, 17, 6, 5, 0).unwrap(),
        issued,
        expires: issued + chrono::Duration::days(2),
        trend: Trend::Rising,
        observation: Observation { period: Some("2026-07-17".into()), raise_level: level, hold_level: level, value: Some(36.0), evidence, members: None },
    }
}

#[test]
fn a_canicule_payload_carries_its_evidence_and_says_it_is_not_the_official_vigilance() {
    let event = canicule_event(Change::Updated { reasons: vec![UpdateReason::Escalated] }, Level::Orange, Level::Yellow);
    let body = payload(&canicule_rule(), "31555", &event);
    assert_eq!(body["type"], "heat.alert.updated");
    assert_eq!(body["timestamp"], "2026-07-18T06:05:00Z");
    let data = &body["data"];
    assert_eq!((data["alert_id"].as_str(), data["event_id"].as_str(), data["sequence"].as_u64()), (Some("alr_1"), Some("alr_1.2"), Some(2)));
    assert_eq!((data["level"].as_str(), data["previous_level"].as_str(), data["official_level"].is_null()), (Some("orange"), Some("yellow"), true));
    assert_eq!(data["area"], json!({"id": "31555", "network": "toulouse", "insee": "31555", "departement": "31", "sensors": ["tls-001", "tls-002"]}));
    assert_eq!(data["indicators"]["ibmn_max_c"], 22.33);
    assert_eq!(data["indicators"]["value"], 36.0);
    assert_eq!(data["reasons"], json!([{"reason": "escalated"}]));
    assert_eq!((data["trend"].as_str(), data["correction"].as_bool()), (Some("rising"), Some(false)));
    let fr = data["summary"]["fr"].as_str().unwrap();
    assert!(fr.starts_with("Canicule observée, niveau orange, zone 31555 : IBMn 22.3 °C (seuil 21.0), IBMx 36.0 °C (seuil 36.0), du 2026-07-15 au 2026-07-17"), "{fr}");
    assert!(fr.ends_with(DISCLAIMER_FR));
    assert!(data["summary"]["en"].as_str().unwrap().contains("not the official Météo-France heat vigilance"));
}

#[test]
fn a_correction_and_a_clear_say_so() {
    let late = canicule_event(Change::Updated { reasons: vec![UpdateReason::LateData { period: "2026-07-16".into() }] }, Level::Orange, Level::Orange);
    let data = &payload(&canicule_rule(), "31555", &late)["data"];
    assert_eq!(data["correction"], true);
    assert_eq!(data["reasons"], json!([{"reason": "late_data", "period": "2026-07-16"}]));
    let cleared = canicule_event(Change::Cleared { reason: ClearReason::BelowThreshold }, Level::Green, Level::Orange);
    let body = payload(&canicule_rule(), "31555", &cleared);
    assert_eq!(body["type"], "heat.alert.cleared");
    assert_eq!(body["data"]["clear_reason"], "below_threshold");
    assert!(body["data"]["summary"]["en"].as_str().unwrap().starts_with("Alert ended (orange → green): the indicators are back below the thresholds."));
}
