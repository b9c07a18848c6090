//! SenML JSON packs (RFC 8428): base-field resolution, names, units, and the grouping of the
//! records of one sensor and instant into one [`Reading`].
//!
//! - Base fields (`bn`, `bt`, `bu`, `bv`) apply to their record and to every following record
//!   until redefined. A pack of a newer version (`bver` > 10) or with a must-understand field
//!   (name ending in `_`) is refused whole, as RFC 8428 §4.4 requires; so is a base field of the
//!   wrong type, since every following record depends on it.
//! - Name = `bn` + `n`, split into who it is about and its measurement part:
//!   `urn:dev:ilot:<sensor>[:<measurement>]`, `<sensor>:<measurement>`, `<sensor>/<measurement>`
//!   name an ilot sensor, which must be the topic's; `<measurement>` alone is the topic's sensor;
//!   a device's own URN (`urn:dev:<type>:<id>`, RFC 9039: `urn:dev:ow:…`, `urn:dev:mac:…`),
//!   optionally followed by `:` or `/` and a measurement, is not an ilot id: the record is the
//!   topic's sensor's, or, when the topic names none, the URN is the sensor id.
//! - Measurement: told by the measurement part when there is one, through the network's
//!   `senml_names` then [`BUILTIN_NAMES`]; a measurement part that is neither is another
//!   measurement (RSSI, pressure, soil temperature…) and the record is ignored. A name without
//!   measurement part (a bare device URN, `<sensor>:`, no name at all) is told by its unit
//!   (`u`, else `bu`): `Cel`/`K` temperature, `%RH` humidity, `V` battery; other units are
//!   ignored. A pack in which no record is read is refused whole, listing what it had.
//! - Units: `Cel` or `K` (converted: °C = K − 273.15) for temperature, `%RH` for humidity, `V` for
//!   battery; any other unit for a measurement ilot reads is `UnknownUnit`. A record without unit
//!   is in these units.
//! - Value = `bv` + `v`; `vs`, `vb`, `vd` are `WrongType` for a measurement ilot reads.
//! - Time = `bt` + `t` in seconds; below 2^28 it is relative to now, the mark of a device whose
//!   clock is not set: `RelativeTimestamp` (so is a record with no time at all).
//! - Records of the same sensor and time make one reading, which needs a temperature: humidity or
//!   battery alone (a volts-only pack) is `NoTemperature`. A second value of the same measurement
//!   at the same instant starts another reading with the same key, so that the conflict is
//!   flagged downstream instead of one value being silently chosen.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

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
/// Device URNs (RFC 9039): `urn:dev:<type>:<id>`.
const DEVICE_URN_PREFIX: &str = "urn:dev:";
/// At most this many of the names of an unread pack are quoted in its dead letter.
const UNREAD_SHOWN: usize = 5;

/// Measurement names every network understands, after its own `senml_names`. Small on purpose:
/// only names that cannot mean anything else as a SenML record name.
const BUILTIN_NAMES: [(&str, Measurement); 10] = [
    ("temperature", Measurement::Temperature),
    ("temp", Measurement::Temperature),
    ("t", Measurement::Temperature),
    ("humidity", Measurement::Humidity),
    ("hum", Measurement::Humidity),
    ("rh", Measurement::Humidity),
    ("battery", Measurement::Battery),
    ("bat", Measurement::Battery),
    ("batt", Measurement::Battery),
    ("vbat", Measurement::Battery),
];

/// A network's vendor names of SenML measurements (`senml_names`), e.g. `airTemp` → temperature.
pub type SenmlNames = BTreeMap<String, Measurement>;

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
    let mut unread = Vec::new();
    let mut topic_device = None;
    for (index, record) in records.iter().enumerate() {
        let resolved = match &record.fields {
            Ok(fields) => {
                base.apply(fields).map_err(|source| Refused::InRecord { index, source })?;
                resolve(context, &base, fields, &mut topic_device)
            }
            Err(error) => Err(error.clone()),
        };
        match resolved {
            Ok(Resolved::Read { sensor, ts_ms, value }) => entries.push(Entry { index, text: record.text, sensor, ts_ms, value }),
            // One more than is shown tells that there are more.
            Ok(Resolved::Unread(described)) if unread.len() <= UNREAD_SHOWN && !unread.contains(&described) => {
                unread.push(described);
            }
            Ok(Resolved::Unread(_)) => {}
            Err(error) => decoded.dead_letters.push(context.refuse(record.text, &format!("record {index}"), &error)),
        }
    }
    if entries.is_empty() && decoded.dead_letters.is_empty() {
        let more = if unread.len() > UNREAD_SHOWN { ", …" } else { "" };
        unread.truncate(UNREAD_SHOWN);
        return Err(Refused::NoMeasurement(format!("{}{more}", unread.join(", "))));
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

/// The measurements ilot reads (the targets of a network's `senml_names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measurement {
    Temperature,
    Humidity,
    Battery,
}

impl Measurement {
    /// The measurement a name's measurement part says: the network's vendor names first.
    fn named(part: &str, vendor: Option<&SenmlNames>) -> Option<Self> {
        let vendor = vendor.and_then(|names| names.get(part)).copied();
        // Firmware writes `Temperature` as often as `temperature`: built-in names ignore case.
        vendor.or_else(|| BUILTIN_NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(part)).map(|&(_, measurement)| measurement))
    }

    /// The measurement a unit says, for a name without measurement part.
    fn of_unit(unit: &str) -> Option<Self> {
        match unit {
            "Cel" | "K" => Some(Self::Temperature),
            "%RH" => Some(Self::Humidity),
            "V" => Some(Self::Battery),
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

/// Whom a name says a record is about.
#[derive(Debug, PartialEq, Eq)]
enum Subject<'a> {
    /// No one: the topic's sensor.
    Topic,
    /// An ilot sensor id, which must be the topic's sensor when the topic names one.
    Sensor(&'a str),
    /// A device's own URN: not an ilot id, so the topic's sensor, else the URN itself.
    Device(&'a str),
}

/// `(subject, measurement part)` of a resolved name; the measurement part is empty when the name
/// only says whom the record is about.
fn split_name(name: &str) -> (Subject<'_>, &str) {
    if let Some(rest) = name.strip_prefix(ILOT_URN_PREFIX) {
        return match rest.rsplit_once([':', '/']) {
            Some((sensor, measurement)) => (Subject::Sensor(sensor), measurement),
            None => (Subject::Sensor(rest), ""),
        };
    }
    if let Some(urn) = device_urn(name) {
        // What follows the URN's separator, if anything.
        return (Subject::Device(urn), name[urn.len()..].get(1..).unwrap_or_default());
    }
    match name.rsplit_once([':', '/']) {
        Some((sensor, measurement)) => (Subject::Sensor(sensor), measurement),
        None => (Subject::Topic, name),
    }
}

/// The device URN a name starts with, `urn:dev:<type>:<id>`, its id ending at the next `:` or `/`.
fn device_urn(name: &str) -> Option<&str> {
    let (kind, id) = name.strip_prefix(DEVICE_URN_PREFIX)?.split_once(':')?;
    let id_len = id.find([':', '/']).unwrap_or(id.len());
    (!kind.is_empty() && !kind.contains('/') && id_len > 0).then(|| &name[..DEVICE_URN_PREFIX.len() + kind.len() + 1 + id_len])
}

/// What one record gives.
enum Resolved {
    /// A value of a measurement ilot reads.
    Read { sensor: String, ts_ms: i64, value: Value },
    /// Something else (RSSI, pressure…), described by its name and unit for the dead letter of a
    /// pack in which nothing is read.
    Unread(String),
}

/// Resolves one record. Checks run in this order: sensor, time, unit, value. `topic_device`: the
/// first device URN of the pack taken as the topic's sensor; a record of another device cannot
/// be that sensor too (a gateway forwarding several devices on one sensor's topic).
fn resolve(context: &Context<'_>, base: &Base, fields: &Fields<'_>, topic_device: &mut Option<String>) -> Result<Resolved, Invalid> {
    let name = format!("{}{}", base.name, fields.string("n")?.unwrap_or_default());
    let (subject, part) = split_name(&name);
    let measurement = if part.is_empty() {
        unit(base, fields)?.as_deref().and_then(Measurement::of_unit)
    } else {
        Measurement::named(part, context.origin.senml_names)
    };
    let Some(measurement) = measurement else {
        let unit = fields.string("u").ok().flatten().or_else(|| base.unit.clone());
        let unit = unit.map_or_else(|| "without unit".to_owned(), |unit| format!("in {:?}", validate::excerpt(&unit)));
        return Ok(Resolved::Unread(format!("{:?} {unit}", validate::excerpt(&name))));
    };
    let sensor = match (subject, context.origin.sensor) {
        (Subject::Topic, _) => context.sensor(None)?,
        (Subject::Sensor(sensor), _) => context.sensor(Some(sensor))?,
        (Subject::Device(urn), Some(from_topic)) => match topic_device.get_or_insert_with(|| urn.to_owned()) {
            first if first == urn => from_topic.to_owned(),
            first => return Err(Invalid::SensorMismatch { topic: format!("{from_topic} (device {first})"), payload: urn.to_owned() }),
        },
        (Subject::Device(urn), None) => context.sensor(Some(urn))?,
    };
    let ts_ms = context.time(time_ms(base, fields)?)?;
    let offset = measurement.offset_from(unit(base, fields)?.as_deref())?;
    let value = measurement.quantise(value(base, fields)? + offset)?;
    Ok(Resolved::Read { sensor, ts_ms, value })
}

/// `u`, else `bu` (RFC 8428: the base unit applies to the records without one).
fn unit(base: &Base, fields: &Fields<'_>) -> Result<Option<String>, Invalid> {
    Ok(fields.string("u")?.or_else(|| base.unit.clone()))
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

    /// The reading, or a `NoTemperature` dead letter when no temperature was given (payload: the
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
mod tests;
