//! The benches' synthetic city (analytics, dashboard): a deterministic network of sensors
//! (10 % `rural` in LCZ D, urban LCZ classes with their night-time excess), their 5-minute
//! readings (seasonal and diurnal cycles, a July heat wave, shared weather, noise, dropouts,
//! outages, rare spikes; 0.01 °C / 0.1 %RH) as Parquet files for `ilot import`, and their
//! registry CSV.

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{Datelike, NaiveDate};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

use crate::support::{gauss, mix, unit};

pub const NETWORK: &str = "bench";
const STEP_MS: i64 = 300_000;
const DAY_MS: i64 = 86_400_000;

pub struct Sensor {
    id: String,
    rural: bool,
    lcz: &'static str,
    day_offset: f64,
    night_offset: f64,
}

pub fn sensors(n: usize) -> Vec<Sensor> {
    const URBAN_LCZ: [(&str, f64); 6] = [("2", 3.2), ("3", 2.8), ("5", 2.0), ("6", 1.6), ("8", 1.8), ("9", 1.0)];
    (0..n)
        .map(|i| {
            let jitter = gauss(i as u64, 0, 11) * 0.3;
            let (rural, lcz, night) = if i % 10 == 0 { (true, "D", 0.0) } else { (false, URBAN_LCZ[i % 6].0, URBAN_LCZ[i % 6].1) };
            Sensor { id: format!("{NETWORK}-{i:04}"), rural, lcz, day_offset: jitter + night * 0.25, night_offset: jitter + night }
        })
        .collect()
}

/// Air temperature (°C, unrounded) of `sensor` at `ts_ms`.
fn temperature(s: &Sensor, sensor: u64, ts_ms: i64) -> f64 {
    use std::f64::consts::PI;
    let day = ts_ms.div_euclid(DAY_MS);
    let hour = ts_ms.rem_euclid(DAY_MS) as f64 / 3_600_000.0;
    let doy = (day - 20089) as f64; // days since 2025-01-01
    let seasonal = 13.5 - 8.5 * (2.0 * PI * (doy - 20.0) / 365.0).cos();
    let heat_wave = if (190.0..204.0).contains(&doy) { 7.0 * (PI * (doy - 190.0) / 14.0).sin() } else { 0.0 };
    // Weather shared by the network, interpolated between daily values.
    let frac = hour / 24.0;
    let weather = 3.0 * (gauss(day as u64, 0, 21) * (1.0 - frac) + gauss(day as u64 + 1, 0, 21) * frac);
    let diurnal = (2.0 * PI * (hour - 9.0) / 24.0).sin(); // max 15 h, min 3 h
    let nightness = (1.0 - diurnal) / 2.0;
    let urban = s.day_offset + (s.night_offset - s.day_offset) * nightness;
    let noise = 0.12 * gauss(sensor, ts_ms as u64, 31);
    let spike = if unit(sensor, ts_ms as u64, 41) < 5e-5 { 6.0 } else { 0.0 };
    seasonal + heat_wave + weather + (5.0 + heat_wave / 7.0) * diurnal + urban + noise + spike
}

/// Whether the reading is missing: 1.2 % dropouts, and a 2-hour outage on 3 % of sensor-days.
fn missing(sensor: u64, ts_ms: i64) -> bool {
    let day = ts_ms.div_euclid(DAY_MS) as u64;
    if unit(sensor, day, 51) < 0.03 {
        let start_h = (mix(sensor ^ day << 20) % 22) as i64;
        let h = ts_ms.rem_euclid(DAY_MS) / 3_600_000;
        if (start_h..start_h + 2).contains(&h) {
            return true;
        }
    }
    unit(sensor, ts_ms as u64, 61) < 0.012
}

fn round_to(x: f64, step: f64) -> f64 {
    (x / step).round() * step
}

/// One Parquet file per calendar month in `[start, start + days)`; returns the row count.
pub fn generate(dir: &Path, sensors: &[Sensor], start: NaiveDate, days: u64) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("temperature_c", DataType::Float64, false),
        Field::new("humidity_pct", DataType::Float64, false),
    ]));
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap())).build();
    let end = start + chrono::Days::new(days);
    let mut rows = 0u64;
    let mut month_start = start;
    while month_start < end {
        let next_month = NaiveDate::from_ymd_opt(month_start.year() + month_start.month() as i32 / 12, month_start.month() % 12 + 1, 1).unwrap();
        let month_end = next_month.min(end);
        let path = dir.join(format!("{}.parquet", month_start.format("%Y-%m")));
        let mut writer = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema.clone(), Some(props.clone())).unwrap();
        let (t0, t1) = (ms(month_start), ms(month_end));
        for (i, s) in sensors.iter().enumerate() {
            let (mut ts, mut temp, mut hum) = (Vec::new(), Vec::new(), Vec::new());
            for t in (t0..t1).step_by(STEP_MS as usize) {
                if missing(i as u64, t) {
                    continue;
                }
                let c = temperature(s, i as u64, t);
                ts.push(t);
                temp.push(round_to(c, 0.01));
                hum.push(round_to((70.0 - 2.5 * (c - 14.0) + 3.0 * gauss(i as u64, t as u64, 71)).clamp(15.0, 100.0), 0.1));
            }
            rows += ts.len() as u64;
            let ids = StringArray::from(vec![s.id.as_str(); ts.len()]);
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(ids), Arc::new(Int64Array::from(ts)), Arc::new(Float64Array::from(temp)), Arc::new(Float64Array::from(hum))],
            )
            .unwrap();
            writer.write(&batch).unwrap();
        }
        writer.close().unwrap();
        month_start = next_month;
    }
    rows
}

fn ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis()
}

pub fn write_registry(path: &Path, sensors: &[Sensor]) {
    let mut csv = String::from("network,sensor_id,lat,lon,lcz,role\n");
    for (i, s) in sensors.iter().enumerate() {
        let (lat, lon) = (43.50 + 0.2 * unit(i as u64, 1, 81), 1.30 + 0.3 * unit(i as u64, 2, 81));
        let role = if s.rural { "rural" } else { "urban" };
        csv += &format!("{NETWORK},{},{lat:.5},{lon:.5},{},{role}\n", s.id, s.lcz);
    }
    std::fs::write(path, csv).unwrap();
}
