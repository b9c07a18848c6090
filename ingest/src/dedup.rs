//! Idempotence on (network, sensor, ts): the key index remembers, per partition, every stored
//! key with its exact values. A broker redelivery or device resend with the same values is
//! dropped (counted as a duplicate); the same key with other values is a *conflict*: the first
//! value stays in `readings`, the newcomer is kept aside in `conflicts`, never overwriting.
//!
//! A partition's keys are loaded from its Parquet files the first time a reading for it
//! arrives (late backlogs included), and partitions untouched for a while are evicted.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Decimal128Type, TimestampMillisecondType};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::Reading;
use crate::layout::PartitionKey;

/// Exact packing of the measured values: temperature (16 bits), humidity (16 + presence),
/// battery (32 + presence) fit in one u64 with a presence bit each folded into a spare range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Values(u64, bool, bool);

impl Values {
    fn of(t: i16, h: Option<i16>, b: Option<i32>) -> Self {
        let packed = (u64::from(t as u16) << 48) | (u64::from(h.unwrap_or(0) as u16) << 32) | u64::from(b.unwrap_or(0) as u32);
        Values(packed, h.is_some(), b.is_some())
    }
    fn of_reading(r: &Reading) -> Self {
        Self::of(r.temperature_centi_c, r.humidity_deci_pct, r.battery_mv)
    }
}

/// What the index says about an incoming reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    New,
    Duplicate,
    Conflict,
}

#[derive(Default)]
struct PartitionKeys {
    keys: HashMap<(Arc<str>, i64), Values>,
    sensors: HashMap<String, Arc<str>>,
    touched: Option<Instant>,
}

impl PartitionKeys {
    fn sensor(&mut self, id: &str) -> Arc<str> {
        if let Some(s) = self.sensors.get(id) {
            return s.clone();
        }
        let s: Arc<str> = Arc::from(id);
        self.sensors.insert(id.to_owned(), s.clone());
        s
    }

    fn check_insert(&mut self, sensor: &str, ts_ms: i64, values: Values) -> Verdict {
        let sensor = self.sensor(sensor);
        match self.keys.get(&(sensor.clone(), ts_ms)) {
            None => {
                self.keys.insert((sensor, ts_ms), values);
                Verdict::New
            }
            Some(v) if *v == values => Verdict::Duplicate,
            Some(_) => Verdict::Conflict,
        }
    }
}

#[derive(Default)]
pub struct KeyIndex {
    partitions: HashMap<PartitionKey, PartitionKeys>,
}

impl KeyIndex {
    pub fn is_loaded(&self, partition: &PartitionKey) -> bool {
        self.partitions.contains_key(partition)
    }

    /// Register a partition's stored rows (from its Parquet files, file schema).
    pub fn load(&mut self, partition: PartitionKey, batches: &[RecordBatch]) {
        let p = self.partitions.entry(partition).or_default();
        for b in batches {
            let sensor = b.column(0).as_string::<i32>();
            let ts = b.column(1).as_primitive::<TimestampMillisecondType>();
            let t = b.column(2).as_primitive::<Decimal128Type>();
            let h = b.column(3).as_primitive::<Decimal128Type>();
            let bat = b.column(4).as_primitive::<Decimal128Type>();
            for i in 0..b.num_rows() {
                let values = Values::of(
                    t.value(i) as i16,
                    h.is_valid(i).then(|| h.value(i) as i16),
                    bat.is_valid(i).then(|| bat.value(i) as i32),
                );
                p.check_insert(sensor.value(i), ts.value(i), values);
            }
        }
    }

    /// Judge a reading of a loaded partition, remembering it when new.
    pub fn check_insert(&mut self, partition: &PartitionKey, reading: &Reading) -> Verdict {
        let p = self.partitions.entry(partition.clone()).or_default();
        p.touched = Some(Instant::now());
        p.check_insert(&reading.sensor_id, reading.ts_ms, Values::of_reading(reading))
    }

    /// Forget partitions not touched since `before` (their keys are reloaded from Parquet if a
    /// reading for them turns up again). Only call for partitions with nothing left in memory.
    pub fn evict_untouched(&mut self, before: Instant, keep: impl Fn(&PartitionKey) -> bool) {
        self.partitions.retain(|k, p| keep(k) || p.touched.is_some_and(|t| t >= before));
    }

    /// Forget one partition's keys (reloaded from Parquet if a reading for it turns up again).
    /// Only call for a partition with nothing left in memory.
    pub fn evict(&mut self, partition: &PartitionKey) {
        self.partitions.remove(partition);
    }

    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }

    pub fn keys(&self) -> usize {
        self.partitions.values().map(|p| p.keys.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn r(t: i16, h: Option<i16>) -> Reading {
        Reading {
            network: "n".into(),
            sensor_id: "s1".into(),
            ts_ms: 1_000,
            temperature_centi_c: t,
            humidity_deci_pct: h,
            battery_mv: None,
            seq: None,
            received_at_ms: 2_000,
            qc_flags: 0,
        }
    }

    #[test]
    fn duplicates_and_conflicts_are_told_apart() {
        let mut idx = KeyIndex::default();
        let p = PartitionKey { network: Some("n".into()), date: NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() };
        assert_eq!(idx.check_insert(&p, &r(2500, None)), Verdict::New);
        assert_eq!(idx.check_insert(&p, &r(2500, None)), Verdict::Duplicate);
        assert_eq!(idx.check_insert(&p, &r(2501, None)), Verdict::Conflict);
        assert_eq!(idx.check_insert(&p, &r(2500, Some(0))), Verdict::Conflict, "absent is not zero");
        assert_eq!(idx.keys(), 1);
    }
}
