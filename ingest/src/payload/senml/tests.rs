//! Tests of the SenML decoder: the ilot naming convention, packs as real devices send them
//! (device URNs, vendor names, units and base units), and what is dead-lettered.

use super::super::tests::{T0_MS, decode_default, origin};
use super::super::{Decoded, Origin};
use super::{Measurement, SenmlNames, Subject, split_name};
use crate::DeadLetterReason;

/// `(sensor, ts_ms, temperature, humidity, battery)` of each reading.
fn readings(decoded: &Decoded) -> Vec<(&str, i64, i16, Option<i16>, Option<i32>)> {
    decoded
        .readings
        .iter()
        .map(|r| (r.sensor_id.as_str(), r.ts_ms, r.temperature_centi_c, r.humidity_deci_pct, r.battery_mv))
        .collect()
}

/// The one dead letter of a message that gave nothing else.
fn only_dead_letter(decoded: &Decoded) -> (DeadLetterReason, &str) {
    assert!(decoded.readings.is_empty(), "{decoded:?}");
    let [dead] = decoded.dead_letters.as_slice() else { panic!("{decoded:?}") };
    (dead.reason, dead.detail.as_str())
}

#[test]
fn names_follow_the_ilot_convention_and_device_urns() {
    assert_eq!(split_name("urn:dev:ilot:tls-042:temperature"), (Subject::Sensor("tls-042"), "temperature"));
    assert_eq!(split_name("tls-042:humidity"), (Subject::Sensor("tls-042"), "humidity"));
    assert_eq!(split_name("tls-042/battery"), (Subject::Sensor("tls-042"), "battery"));
    assert_eq!(split_name("urn:dev:ilot:net:a:temperature"), (Subject::Sensor("net:a"), "temperature"));
    assert_eq!(split_name("urn:dev:ilot:tls-042"), (Subject::Sensor("tls-042"), ""));
    assert_eq!(split_name("temperature"), (Subject::Topic, "temperature"));
    assert_eq!(split_name(""), (Subject::Topic, ""));
    assert_eq!(split_name("tls-042:"), (Subject::Sensor("tls-042"), ""));
    // A device's own URN (RFC 9039) ends at its id; what follows is the measurement part.
    assert_eq!(split_name("urn:dev:ow:10e2073a01080063"), (Subject::Device("urn:dev:ow:10e2073a01080063"), ""));
    assert_eq!(split_name("urn:dev:ow:10e2073a01080063:"), (Subject::Device("urn:dev:ow:10e2073a01080063"), ""));
    assert_eq!(split_name("urn:dev:ow:10e2073a01080063:temp"), (Subject::Device("urn:dev:ow:10e2073a01080063"), "temp"));
    assert_eq!(split_name("urn:dev:mac:0024befffe804ff1/rh"), (Subject::Device("urn:dev:mac:0024befffe804ff1"), "rh"));
    assert_eq!(split_name("urn:dev:ow"), (Subject::Sensor("urn:dev"), "ow"));
}

#[test]
fn base_fields_carry_forward_and_records_group_by_sensor_and_time() {
    let payload = br#"[
        {"bn":"urn:dev:ilot:tls-042:","bt":1751371500,"bu":"Cel","n":"temperature","v":24.31},
        {"n":"humidity","u":"%RH","v":51.2},
        {"n":"battery","u":"V","v":3.61},
        {"n":"rssi","u":"dBW","v":-80},
        {"n":"temperature","v":24.5,"t":300},
        {"bn":"tls-043/","n":"temperature","u":"K","v":297.45}
    ]"#;
    let decoded = decode_default(&origin(None), payload);
    assert!(decoded.dead_letters.is_empty(), "{:?}", decoded.dead_letters);
    assert_eq!(
        readings(&decoded),
        [
            ("tls-042", T0_MS, 2431, Some(512), Some(3610)),
            ("tls-042", T0_MS + 300_000, 2450, None, None),
            ("tls-043", T0_MS, 2430, None, None),
        ]
    );
    assert!(decoded.readings.iter().all(|r| r.network == "tls" && r.seq.is_none() && r.qc_flags == 0));
}

#[test]
fn a_measurement_only_name_takes_the_sensor_from_the_topic() {
    let payload = br#"[{"bt":1751371500.5,"n":"temperature","u":"Cel","v":20,"bver":10}]"#;
    let decoded = decode_default(&origin(Some("tls-042")), payload);
    let [reading] = decoded.readings.as_slice() else { panic!("{decoded:?}") };
    assert_eq!((reading.sensor_id.as_str(), reading.ts_ms), ("tls-042", T0_MS + 500));
}

#[test]
fn base_value_is_added_to_each_value() {
    let payload = br#"[{"bn":"a:","bt":1751371500,"bv":20,"n":"temperature","v":1.5},{"n":"temperature","v":-0.5,"t":60}]"#;
    let decoded = decode_default(&origin(None), payload);
    let temperatures: Vec<_> = decoded.readings.iter().map(|r| r.temperature_centi_c).collect();
    assert_eq!(temperatures, [2150, 1950]);
}

#[test]
fn conflicting_values_at_one_instant_become_two_readings_with_the_same_key() {
    let payload = br#"[{"bn":"a:","bt":1751371500,"n":"temperature","v":20},{"n":"humidity","v":50},
        {"n":"temperature","v":21}]"#;
    let decoded = decode_default(&origin(None), payload);
    let [first, second] = decoded.readings.as_slice() else { panic!("{decoded:?}") };
    assert_eq!(first.key(), second.key());
    assert_eq!((first.temperature_centi_c, first.humidity_deci_pct), (2000, Some(500)));
    assert_eq!((second.temperature_centi_c, second.humidity_deci_pct), (2100, None));
}

#[test]
fn rfc_8428_record_named_by_its_device_urn_is_told_by_its_unit() {
    // RFC 8428 §5.1.1, with a time: the name is the device's URN only.
    let payload = br#"[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1,"t":1751371500}]"#;
    let on_sensor_topic = decode_default(&origin(Some("tls-042")), payload);
    assert_eq!(readings(&on_sensor_topic), [("tls-042", T0_MS, 2310, None, None)], "the topic's sensor");
    let on_network_topic = decode_default(&origin(None), payload);
    assert_eq!(readings(&on_network_topic), [("urn:dev:ow:10e2073a01080063", T0_MS, 2310, None, None)], "the URN");
}

#[test]
fn device_urn_base_name_with_vendor_measurement_names() {
    let payload = br#"[{"bn":"urn:dev:ow:10e2073a01080063:","bt":1751371500,"n":"temp","u":"Cel","v":23.1},
        {"n":"rh","u":"%RH","v":40.5},{"n":"vbat","u":"V","v":3.3},{"n":"t","v":23.4,"t":60},
        {"n":"voltage","u":"V","v":120.1},{"n":"soilTemp","u":"Cel","v":12}]"#;
    let decoded = decode_default(&origin(Some("tls-042")), payload);
    assert!(decoded.dead_letters.is_empty(), "{:?}", decoded.dead_letters);
    assert_eq!(
        readings(&decoded),
        [("tls-042", T0_MS, 2310, Some(405), Some(3300)), ("tls-042", T0_MS + 60_000, 2340, None, None)],
        "`voltage` and `soilTemp` are other measurements: a name's own measurement is believed over its unit"
    );
}

#[test]
fn a_second_device_on_one_sensors_topic_is_refused() {
    let payload = br#"[{"bn":"urn:dev:ow:10e2073a01080063","bt":1751371500,"u":"Cel","v":23.1},
        {"bn":"urn:dev:ow:99e2073a01080099","u":"Cel","v":19.4,"t":60}]"#;
    let decoded = decode_default(&origin(Some("tls-042")), payload);
    assert_eq!(readings(&decoded), [("tls-042", T0_MS, 2310, None, None)], "the first device is the topic's sensor");
    let [dead] = decoded.dead_letters.as_slice() else { panic!("{decoded:?}") };
    assert_eq!(dead.reason, DeadLetterReason::SensorMismatch, "the second is not stored as it: {}", dead.detail);
}

#[test]
fn built_in_names_ignore_case() {
    let payload = br#"[{"bn":"urn:dev:ow:10e2073a01080063:","bt":1751371500,"n":"Temperature","u":"Cel","v":23.1},
        {"n":"RH","u":"%RH","v":40.5},{"n":"VBat","u":"V","v":3.3}]"#;
    let decoded = decode_default(&origin(Some("tls-042")), payload);
    assert_eq!(readings(&decoded), [("tls-042", T0_MS, 2310, Some(405), Some(3300))]);
}

#[test]
fn base_unit_applies_to_records_without_unit() {
    let payload = br#"[{"bn":"urn:dev:mac:0024befffe804ff1","bt":1751371500,"bu":"Cel","v":21.5},{"v":22,"t":60},
        {"u":"%RH","v":55}]"#;
    let decoded = decode_default(&origin(Some("tls-042")), payload);
    assert_eq!(readings(&decoded), [("tls-042", T0_MS, 2150, Some(550), None), ("tls-042", T0_MS + 60_000, 2200, None, None)]);
}

#[test]
fn units_tell_the_measurement_of_a_name_without_one() {
    let payload = br#"[{"bn":"tls-042:","bt":1751371500,"u":"K","v":294.15},{"u":"%RH","v":61.2},{"u":"V","v":3.61},
        {"u":"dBm","v":-70},{"v":1}]"#;
    let decoded = decode_default(&origin(Some("tls-042")), payload);
    assert!(decoded.dead_letters.is_empty(), "{:?}", decoded.dead_letters);
    assert_eq!(readings(&decoded), [("tls-042", T0_MS, 2100, Some(612), Some(3610))], "dBm and no unit are ignored");
    // Without any name, the topic's sensor.
    let decoded = decode_default(&origin(Some("tls-042")), br#"[{"bt":1751371500,"u":"Cel","v":19.5}]"#);
    assert_eq!(readings(&decoded), [("tls-042", T0_MS, 1950, None, None)]);
    // An ilot sensor named without measurement must still be the topic's.
    let decoded = decode_default(&origin(Some("tls-042")), br#"[{"bn":"urn:dev:ilot:tls-043","bt":1751371500,"u":"Cel","v":19.5}]"#);
    assert_eq!(only_dead_letter(&decoded).0, DeadLetterReason::SensorMismatch);
}

#[test]
fn the_network_vendor_names_come_before_the_built_in_ones() {
    let payload = br#"[{"bn":"urn:dev:org:32473-x1:","bt":1751371500,"n":"airTemp","u":"Cel","v":18.25},
        {"n":"bv","u":"V","v":3.1},{"n":"temp","u":"%RH","v":70}]"#;
    let names: SenmlNames = [("airTemp", Measurement::Temperature), ("bv", Measurement::Battery), ("temp", Measurement::Humidity)]
        .into_iter()
        .map(|(name, measurement)| (name.to_owned(), measurement))
        .collect();
    let with_names = Origin { senml_names: Some(&names), ..origin(Some("tls-042")) };
    let decoded = decode_default(&with_names, payload);
    assert_eq!(readings(&decoded), [("tls-042", T0_MS, 1825, Some(700), Some(3100))]);
    // Without them nothing is read, and the dead letter says what the pack had.
    let decoded = decode_default(&origin(Some("tls-042")), payload);
    let (reason, detail) = only_dead_letter(&decoded);
    assert_eq!(reason, DeadLetterReason::UnknownUnit, "`temp` is temperature, not in %RH: {detail}");
    let payload = br#"[{"bn":"urn:dev:org:32473-x1:","bt":1751371500,"n":"airTemp","u":"Cel","v":18.25},{"n":"bv","v":3.1}]"#;
    let decoded = decode_default(&origin(Some("tls-042")), payload);
    let (reason, detail) = only_dead_letter(&decoded);
    assert_eq!(reason, DeadLetterReason::MissingField);
    assert!(detail.ends_with(r#"it has "urn:dev:org:32473-x1:airTemp" in "Cel", "urn:dev:org:32473-x1:bv" without unit"#), "{detail}");
}

#[test]
fn a_known_measurement_in_an_unknown_unit_is_dead_lettered() {
    let payload = br#"[{"bn":"urn:dev:ow:10e2073a01080063:","bt":1751371500,"n":"temp","u":"degF","v":75},
        {"n":"hum","u":"%RH","v":50,"t":60},{"n":"temp","u":"Cel","v":21,"t":60}]"#;
    let decoded = decode_default(&origin(Some("tls-042")), payload);
    assert_eq!(readings(&decoded), [("tls-042", T0_MS + 60_000, 2100, Some(500), None)]);
    let [dead] = decoded.dead_letters.as_slice() else { panic!("{decoded:?}") };
    assert_eq!(dead.reason, DeadLetterReason::UnknownUnit);
    assert_eq!(dead.detail, r#"record 0: unit "degF" is not accepted for temperature (expected Cel or K)"#);
}

#[test]
fn a_volts_only_pack_is_dead_lettered_as_no_temperature() {
    let payload = br#"[{"bn":"urn:dev:ow:10e2073a01080063","bt":1751371500,"u":"V","v":3.3}]"#;
    let decoded = decode_default(&origin(Some("tls-042")), payload);
    let (reason, detail) = only_dead_letter(&decoded);
    assert_eq!(reason, DeadLetterReason::NoTemperature);
    assert_eq!(
        detail,
        r#"record 0: no temperature record for sensor "tls-042" at 2025-07-01T12:05:00Z: a reading needs one, humidity or battery alone is not stored"#
    );
}

#[test]
fn a_group_without_temperature_is_one_dead_letter_listing_its_records() {
    let payload = br#"[{"bn":"a:","bt":1751371500,"n":"humidity","v":50},{"n":"battery","v":3.3},{"n":"temperature","v":20,"t":60}]"#;
    let decoded = decode_default(&origin(None), payload);
    assert_eq!(decoded.readings.len(), 1);
    let [dead] = decoded.dead_letters.as_slice() else { panic!("{decoded:?}") };
    assert_eq!(dead.reason, DeadLetterReason::NoTemperature);
    assert!(dead.detail.starts_with(r#"records 0, 1: no temperature record for sensor "a" at 2025-07-01T12:05:00Z"#), "{}", dead.detail);
    assert_eq!(dead.payload, br#"[{"bn":"a:","bt":1751371500,"n":"humidity","v":50},{"n":"battery","v":3.3}]"#);
}

#[test]
fn vendor_name_targets_and_keys_are_validated() {
    let refused = serde_json::from_str::<crate::registry::Network>(r#"{"senml_names":{"p":"pressure"}}"#).unwrap_err();
    assert!(refused.to_string().contains("unknown variant `pressure`"), "{refused}");
    let network: crate::registry::Network = serde_json::from_str(r#"{"senml_names":{"airTemp":"temperature"}}"#).unwrap();
    assert_eq!(network.validate("acme"), Ok(()));
    for key in ["", "a:b", "a/b"] {
        let network = crate::registry::Network { senml_names: [(key.to_owned(), Measurement::Battery)].into(), ..Default::default() };
        assert!(network.validate("acme").unwrap_err().contains("senml_names key"), "{key:?}");
    }
}

#[test]
fn whole_pack_refusals() {
    for (payload, reason, detail) in [
        (
            &br#"[{"n":"rssi","v":-80,"bt":1751371500}]"#[..],
            DeadLetterReason::MissingField,
            r#"SenML pack has no temperature, humidity or battery record (told by a known name, the network's senml_names, or for a name without measurement by unit Cel, K, %RH, V): it has "rssi" without unit"#,
        ),
        (
            // RFC 8428 §5.1.2: mains voltage and current are not a battery.
            br#"[{"bn":"urn:dev:ow:10e2073a01080063:","bt":1751371500,"n":"voltage","u":"V","v":120.1},{"n":"current","u":"A","v":1.2}]"#,
            DeadLetterReason::MissingField,
            r#"it has "urn:dev:ow:10e2073a01080063:voltage" in "V", "urn:dev:ow:10e2073a01080063:current" in "A""#,
        ),
        (
            br#"[{"bt":1751371500,"n":"a","v":1},{"n":"b","v":1},{"n":"c","v":1},{"n":"a","v":2},{"n":"d","v":1},{"n":"e","v":1},{"n":"f","v":1},{"n":"g","v":1}]"#,
            DeadLetterReason::MissingField,
            r#"it has "a" without unit, "b" without unit, "c" without unit, "d" without unit, "e" without unit, …"#,
        ),
        (br#"[{"bver":11,"bn":"a:","bt":1751371500,"n":"temperature","v":20}]"#, DeadLetterReason::UnknownFormat, "version 11"),
        (br#"[{"bn":"a:","bt":1751371500,"n":"temperature","v":20,"rt_":1}]"#, DeadLetterReason::UnknownFormat, "\"rt_\""),
        (br#"[{"bn":"a:","bt":"now","n":"temperature","v":20}]"#, DeadLetterReason::WrongType, "record 0: `bt` must be a number"),
    ] {
        let decoded = decode_default(&origin(None), payload);
        let (got, text) = only_dead_letter(&decoded);
        assert_eq!(got, reason, "{text}");
        assert!(text.contains(detail), "{text}");
        assert_eq!(decoded.dead_letters[0].payload, payload);
    }
}
