//! The newest reading of every sensor, by measurement time (not arrival): the dashboards'
//! "now", answered from memory instead of a scan. Fed by every reading the store accepts, and
//! seeded from the recent files when the store opens or other writers' files appear.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Decimal128Type, TimestampMillisecondType, UInt32Type, UInt64Type};
use std::collections::HashMap;
use std::sync::RwLock;

use crate::Reading;

/// Days of data, before the newest file of each network, read to seed the cache: a sensor
/// silent for longer shows no latest reading until it reports again.
pub const SEED_DAYS: i64 = 7;

/// Network → sensor → newest reading: looked up by `&str`, so a reading that is not newer (the
/// common case on the apply path) costs no allocation.
#[derive(Default)]
pub struct LatestReadings {
    by_network: RwLock<HashMap<String, HashMap<String, Reading>>>,
}

impl LatestReadings {
    /// Keep `r` if it is its sensor's newest measurement.
    pub fn observe(&self, r: &Reading) {
        let mut map = self.by_network.write().expect("latest lock");
        let sensors = match map.get_mut(r.network.as_str()) {
            Some(sensors) => sensors,
            None => map.entry(r.network.clone()).or_default(),
        };
        match sensors.get_mut(r.sensor_id.as_str()) {
            Some(known) if known.ts_ms >= r.ts_ms => {}
            Some(known) => *known = r.clone(),
            None => {
                sensors.insert(r.sensor_id.clone(), r.clone());
            }
        }
    }

    /// Observe the rows of a stored batch (file columns) of `network`.
    pub fn observe_batch(&self, network: &str, batch: &RecordBatch) {
        let col = |name: &str| batch.column_by_name(name).unwrap_or_else(|| panic!("stored batches have {name}"));
        let sensors = col("sensor_id").as_string::<i32>();
        let ts = col("ts").as_primitive::<TimestampMillisecondType>();
        let temperature = col("temperature_c").as_primitive::<Decimal128Type>();
        let humidity = col("humidity_pct").as_primitive::<Decimal128Type>();
        let battery = col("battery_v").as_primitive::<Decimal128Type>();
        let seq = col("seq").as_primitive::<UInt64Type>();
        let received = col("received_at").as_primitive::<TimestampMillisecondType>();
        let flags = col("qc_flags").as_primitive::<UInt32Type>();
        // Newest row per sensor in this batch first, then one map update per sensor.
        let mut newest: HashMap<&str, usize> = HashMap::new();
        for i in 0..batch.num_rows() {
            let e = newest.entry(sensors.value(i)).or_insert(i);
            if ts.value(i) > ts.value(*e) {
                *e = i;
            }
        }
        for (sensor, i) in newest {
            self.observe(&Reading {
                network: network.to_owned(),
                sensor_id: sensor.to_owned(),
                ts_ms: ts.value(i),
                temperature_centi_c: temperature.value(i) as i16,
                humidity_deci_pct: humidity.is_valid(i).then(|| humidity.value(i) as i16),
                battery_mv: battery.is_valid(i).then(|| battery.value(i) as i32),
                seq: seq.is_valid(i).then(|| seq.value(i)),
                received_at_ms: received.value(i),
                qc_flags: flags.value(i),
            });
        }
    }

    /// Every sensor's newest reading, sorted by network and sensor.
    pub fn snapshot(&self) -> Vec<Reading> {
        let mut out: Vec<Reading> = self.by_network.read().expect("latest lock").values().flat_map(|s| s.values().cloned()).collect();
        out.sort_by(|a, b| (&a.network, &a.sensor_id).cmp(&(&b.network, &b.sensor_id)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(sensor: &str, ts_ms: i64, centi: i16) -> Reading {
        Reading {
            network: "n".into(),
            sensor_id: sensor.into(),
            ts_ms,
            temperature_centi_c: centi,
            humidity_deci_pct: None,
            battery_mv: Some(3600),
            seq: None,
            received_at_ms: 0,
            qc_flags: 0,
        }
    }

    #[test]
    fn the_newest_measurement_wins_whatever_the_arrival_order() {
        let latest = LatestReadings::default();
        latest.observe(&r("a", 2_000, 2100));
        latest.observe(&r("a", 1_000, 1900)); // late backlog: older, ignored
        latest.observe(&r("b", 5_000, 1500));
        let batch = crate::schema::readings_to_batch(&[r("a", 3_000, 2200), r("a", 2_500, 2000), r("b", 4_000, 1400)]);
        latest.observe_batch("n", &batch);
        let snap = latest.snapshot();
        assert_eq!(snap.iter().map(|r| (r.sensor_id.as_str(), r.ts_ms, r.temperature_centi_c)).collect::<Vec<_>>(), [("a", 3_000, 2200), ("b", 5_000, 1500)]);
        assert_eq!(snap[0].battery_mv, Some(3600), "values survive the round trip through a batch");
    }
}
