//! SenML JSON packs (RFC 8428): base-field resolution, the ilot naming convention, units, and the
//! grouping of the records of one sensor and instant into one [`Reading`].
//!
//! - Base fields (`bn`, `bt`, `bu`, `bv`) apply to their record and to every following record
//!   until redefined. A pack of a newer version (`bver` > 10) or with a must-understand field
//!   (name ending in `_`) is refused whole, as RFC 8428 §4.4 requires; so is a base field of the
//!   wrong type, since every following record depends on it.
//! - Name = `bn` + `n`: `urn:dev:ilot:<sensor>:<measurement>`, `<sensor>:<measurement>`,
//!   `<sensor>/<measurement>`, or `<measurement>` alone with the sensor from the topic.
//!   Measurements: `temperature`, `humidity`, `battery`; records of other measurements are
//!   ignored (devices also report RSSI, pressure…).
//! - Units: `Cel` or `K` (converted: °C = K − 273.15) for temperature, `%RH` for humidity, `V` for
//!   battery; any other unit is `UnknownUnit`. A record without unit is in these units.
//! - Value = `bv` + `v`; `vs`, `vb`, `vd` are `WrongType` for a measurement ilot reads.
//! - Time = `bt` + `t` in seconds; below 2^28 it is relative to now, the mark of a device whose
//!   clock is not set: `RelativeTimestamp` (so is a record with no time at all).
//! - Records of the same sensor and time make one reading, which needs a temperature. A second
//!   value of the same measurement at the same instant starts another reading with the same key,
//!   so that the conflict is flagged downstream instead of one value being silently chosen.

use std::collections::HashMap;

use super::validate::{self, Fields, Invalid, Millis, Shown};
use super::{Context, Decoded, Measures, Record, Refused};
use crate::reading::Reading;

/// Keys that tell a SenML record.
const KEYS: [&str; 15] = ["bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"];
/// The SenML version this decoder reads (RFC 8428).
const VERSION: f64 = 10.0;
/// Times below 2^28 s are relative to now (RFC 8428 §4.5.3).
const RELATIVE_TIME_LIMIT: f64 = 268_435_456.0;
const ILOT_URN_PREFIX: &str = "urn:dev:ilot:";

/// Whether an object is meant as a SenML record.
pub(super) fn looks_like(fields: &Fields<'_>) -> bool {
    KEYS.iter().any(|key| fields.has(key))
}

/// A whole pack: each record of a known measurement is resolved and checked on its own, then the
/// records are grouped into readings.
pub(super) fn decode_pack(context: &Context<'_>, records: &[Record<'_>]) -> Result<Decoded, Refused> {
    let mut decoded = Decoded::default();
    let mut base = Base::default();
    let mut entries = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let resolved = match &record.fields {
            Ok(fields) => {
                base.apply(fields).map_err(|source| Refused::InRecord { index, source })?;
                resolve(context, &base, fields)
            }
            Err(error) => Err(error.clone()),
        };
        match resolved {
            Ok(Some((sensor, ts_ms, value))) => entries.push(Entry { index, text: record.text, sensor, ts_ms, value }),
            Ok(None) => {}
            Err(error) => decoded.dead_letters.push(context.refuse(record.text, &format!("record {index}"), &error)),
        }
    }
    if entries.is_empty() && decoded.dead_letters.is_empty() {
        return Err(Refused::NoMeasurement);
    }
    for group in group(entries) {
        match group.into_reading(context) {
            Ok(reading) => decoded.readings.push(reading),
            Err(dead_letter) => decoded.dead_letters.push(dead_letter),
        }
    }
    Ok(decoded)
}

/// The base values in force at a record.
#[derive(Default)]
struct Base {
    name: String,
    time: f64,
    unit: Option<String>,
    value: f64,
}

impl Base {
    fn apply(&mut self, fields: &Fields<'_>) -> Result<(), Invalid> {
        check_understood(fields)?;
        if let Some(name) = fields.string("bn")? {
            self.name = name;
        }
        if let Some(time) = fields.number("bt")? {
            self.time = time;
        }
        if let Some(unit) = fields.string("bu")? {
            self.unit = Some(unit);
        }
        if let Some(value) = fields.number("bv")? {
            self.value = value;
        }
        Ok(())
    }
}

/// RFC 8428 §4.4: a pack of a newer version, or with a must-understand field (`…_`) the reader
/// does not know, must not be used.
fn check_understood(fields: &Fields<'_>) -> Result<(), Invalid> {
    if let Some(version) = fields.number("bver")?
        && version > VERSION
    {
        return Err(Invalid::Unsupported(format!(
            "SenML version {version} is newer than version {VERSION}, which ilot reads"
        )));
    }
    match fields.keys().find(|key| key.ends_with('_')) {
        Some(key) => Err(Invalid::Unsupported(format!(
            "SenML must-understand field {:?} is not one ilot knows",
            validate::excerpt(key)
        ))),
        None => Ok(()),
    }
}

/// The measurements ilot reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measurement {
    Temperature,
    Humidity,
    Battery,
}

impl Measurement {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "temperature" => Some(Self::Temperature),
            "humidity" => Some(Self::Humidity),
            "battery" => Some(Self::Battery),
            _ => None,
        }
    }

    /// What to add to a value in `unit` to get it in the storage unit.
    fn offset_from(self, unit: Option<&str>) -> Result<f64, Invalid> {
        match (self, unit) {
            (_, None)
            | (Self::Temperature, Some("Cel"))
            | (Self::Humidity, Some("%RH"))
            | (Self::Battery, Some("V")) => Ok(0.0),
            (Self::Temperature, Some("K")) => Ok(-273.15),
            (_, Some(unit)) => {
                let (quantity, expected) = match self {
                    Self::Temperature => ("temperature", "Cel or K"),
                    Self::Humidity => ("humidity", "%RH"),
                    Self::Battery => ("battery", "V"),
                };
                Err(Invalid::UnknownUnit { quantity, unit: validate::excerpt(unit), expected })
            }
        }
    }

    fn quantise(self, value: f64) -> Result<Value, Invalid> {
        match self {
            Self::Temperature => validate::temperature_c("temperature", value).map(Value::Temperature),
            Self::Humidity => validate::humidity_pct("humidity", value).map(Value::Humidity),
            Self::Battery => validate::battery_v("battery", value).map(Value::Battery),
        }
    }
}

/// A quantised value of one measurement.
#[derive(Debug, Clone, Copy)]
enum Value {
    Temperature(i16),
    Humidity(i16),
    Battery(i32),
}

/// `(sensor, measurement)` from a resolved name; `None` for the sensor when the name has none.
fn split_name(name: &str) -> (Option<&str>, &str) {
    let name = name.strip_prefix(ILOT_URN_PREFIX).unwrap_or(name);
    match name.rsplit_once([':', '/']) {
        Some((sensor, measurement)) => (Some(sensor), measurement),
        None => (None, name),
    }
}

/// Resolves one record: `None` when it is not a measurement ilot reads. Checks run in this order:
/// sensor, time, unit, value.
fn resolve(context: &Context<'_>, base: &Base, fields: &Fields<'_>) -> Result<Option<(String, i64, Value)>, Invalid> {
    let name = format!("{}{}", base.name, fields.string("n")?.unwrap_or_default());
    let (sensor, measurement) = split_name(&name);
    let Some(measurement) = Measurement::from_name(measurement) else {
        return Ok(None);
    };
    let sensor = context.sensor(sensor)?;
    let ts_ms = context.time(time_ms(base, fields)?)?;
    let unit = fields.string("u")?;
    let offset = measurement.offset_from(unit.as_deref().or(base.unit.as_deref()))?;
    let value = measurement.quantise(value(base, fields)? + offset)?;
    Ok(Some((sensor, ts_ms, value)))
}

/// `bt` + `t`, as UTC milliseconds (not yet checked against the reception time).
fn time_ms(base: &Base, fields: &Fields<'_>) -> Result<i64, Invalid> {
    let t = fields.number("t")?.unwrap_or(0.0);
    let seconds = base.time + t;
    if !seconds.is_finite() {
        return Err(Invalid::NonFinite { field: "bt + t", text: format!("{} + {}", Shown(base.time), Shown(t)) });
    }
    if seconds < RELATIVE_TIME_LIMIT {
        return Err(Invalid::Relative { seconds: Shown(seconds) });
    }
    Ok(validate::epoch_seconds_ms(seconds))
}

/// `bv` + `v`.
fn value(base: &Base, fields: &Fields<'_>) -> Result<f64, Invalid> {
    let Some(v) = fields.number("v")? else {
        let other = ["vs", "vb", "vd"].into_iter().find_map(|key| Some((key, fields.get(key)?)));
        return Err(match other {
            Some((key, raw)) => Invalid::WrongType {
                field: "v",
                expected: "a number",
                found: format!("{} in `{key}`", validate::describe(raw)),
            },
            None => Invalid::Missing("v"),
        });
    };
    let sum = base.value + v;
    if sum.is_finite() {
        Ok(sum)
    } else {
        Err(Invalid::NonFinite { field: "bv + v", text: format!("{} + {}", Shown(base.value), Shown(v)) })
    }
}

/// A resolved record of a known measurement.
struct Entry<'a> {
    index: usize,
    text: &'a str,
    sensor: String,
    ts_ms: i64,
    value: Value,
}

/// The records that make one reading: one sensor, one instant, at most one value per measurement.
struct Group<'a> {
    sensor: String,
    ts_ms: i64,
    temperature: Option<i16>,
    humidity: Option<i16>,
    battery: Option<i32>,
    indices: Vec<usize>,
    texts: Vec<&'a str>,
}

impl<'a> Group<'a> {
    fn new(sensor: String, ts_ms: i64) -> Self {
        Self { sensor, ts_ms, temperature: None, humidity: None, battery: None, indices: Vec::new(), texts: Vec::new() }
    }

    fn has_room_for(&self, value: Value) -> bool {
        match value {
            Value::Temperature(_) => self.temperature.is_none(),
            Value::Humidity(_) => self.humidity.is_none(),
            Value::Battery(_) => self.battery.is_none(),
        }
    }

    fn add(&mut self, entry: Entry<'a>) {
        match entry.value {
            Value::Temperature(v) => self.temperature = Some(v),
            Value::Humidity(v) => self.humidity = Some(v),
            Value::Battery(v) => self.battery = Some(v),
        }
        self.indices.push(entry.index);
        self.texts.push(entry.text);
    }

    /// The reading, or a `MissingField` dead letter when no temperature was given (payload: the
    /// record, or the group's records as a JSON array).
    fn into_reading(self, context: &Context<'_>) -> Result<Reading, crate::DeadLetter> {
        let Some(temperature_centi_c) = self.temperature else {
            let location = match self.indices.as_slice() {
                [index] => format!("record {index}"),
                indices => format!("records {}", indices.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
            };
            let payload = match self.texts.as_slice() {
                [text] => (*text).to_owned(),
                texts => format!("[{}]", texts.join(",")),
            };
            let error = Invalid::NoTemperature { sensor: self.sensor, ts: Millis(self.ts_ms) };
            return Err(context.refuse(&payload, &location, &error));
        };
        let measures =
            Measures { temperature_centi_c, humidity_deci_pct: self.humidity, battery_mv: self.battery, seq: None };
        Ok(context.reading(self.sensor, self.ts_ms, measures))
    }
}

/// Groups entries by sensor and instant, in order of first appearance; an entry goes to the first
/// group of its key that has no value yet for its measurement.
fn group(entries: Vec<Entry<'_>>) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut by_key: HashMap<(String, i64), Vec<usize>> = HashMap::new();
    for entry in entries {
        let slots = by_key.entry((entry.sensor.clone(), entry.ts_ms)).or_default();
        let free = slots.iter().copied().find(|&slot| groups.get(slot).is_some_and(|g| g.has_room_for(entry.value)));
        let slot = free.unwrap_or_else(|| {
            groups.push(Group::new(entry.sensor.clone(), entry.ts_ms));
            slots.push(groups.len() - 1);
            groups.len() - 1
        });
        if let Some(group) = groups.get_mut(slot) {
            group.add(entry);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::super::tests::{T0_MS, decode_default, origin};
    use super::split_name;
    use crate::DeadLetterReason;

    #[test]
    fn names_follow_the_ilot_convention() {
        assert_eq!(split_name("urn:dev:ilot:tls-042:temperature"), (Some("tls-042"), "temperature"));
        assert_eq!(split_name("tls-042:humidity"), (Some("tls-042"), "humidity"));
        assert_eq!(split_name("tls-042/battery"), (Some("tls-042"), "battery"));
        assert_eq!(split_name("urn:dev:ilot:net:a:temperature"), (Some("net:a"), "temperature"));
        assert_eq!(split_name("temperature"), (None, "temperature"));
        assert_eq!(split_name("tls-042:"), (Some("tls-042"), ""));
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
        let got: Vec<_> = decoded
            .readings
            .iter()
            .map(|r| (r.sensor_id.as_str(), r.ts_ms, r.temperature_centi_c, r.humidity_deci_pct, r.battery_mv))
            .collect();
        assert_eq!(
            got,
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
        let payload =
            br#"[{"bn":"a:","bt":1751371500,"bv":20,"n":"temperature","v":1.5},{"n":"temperature","v":-0.5,"t":60}]"#;
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
    fn a_group_without_temperature_is_one_dead_letter_listing_its_records() {
        let payload = br#"[{"bn":"a:","bt":1751371500,"n":"humidity","v":50},{"n":"battery","v":3.3},{"n":"temperature","v":20,"t":60}]"#;
        let decoded = decode_default(&origin(None), payload);
        assert_eq!(decoded.readings.len(), 1);
        let [dead] = decoded.dead_letters.as_slice() else { panic!("{decoded:?}") };
        assert_eq!(dead.reason, DeadLetterReason::MissingField);
        assert_eq!(dead.detail, r#"records 0, 1: no temperature record for sensor "a" at 2025-07-01T12:05:00Z"#);
        assert_eq!(dead.payload, br#"[{"bn":"a:","bt":1751371500,"n":"humidity","v":50},{"n":"battery","v":3.3}]"#);
    }

    #[test]
    fn whole_pack_refusals() {
        for (payload, reason, detail) in [
            (
                &br#"[{"n":"rssi","v":-80,"bt":1751371500}]"#[..],
                DeadLetterReason::MissingField,
                "SenML pack has no temperature",
            ),
            (
                br#"[{"bver":11,"bn":"a:","bt":1751371500,"n":"temperature","v":20}]"#,
                DeadLetterReason::UnknownFormat,
                "version 11",
            ),
            (
                br#"[{"bn":"a:","bt":1751371500,"n":"temperature","v":20,"rt_":1}]"#,
                DeadLetterReason::UnknownFormat,
                "\"rt_\"",
            ),
            (
                br#"[{"bn":"a:","bt":"now","n":"temperature","v":20}]"#,
                DeadLetterReason::WrongType,
                "record 0: `bt` must be a number",
            ),
        ] {
            let decoded = decode_default(&origin(None), payload);
            assert!(decoded.readings.is_empty());
            let [dead] = decoded.dead_letters.as_slice() else { panic!("{decoded:?}") };
            assert_eq!(dead.reason, reason);
            assert!(dead.detail.contains(detail), "{}", dead.detail);
            assert_eq!(dead.payload, payload);
        }
    }
}
