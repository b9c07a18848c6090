//! The "night" of the urban-heat-island analytics, as SQL scalar functions.
//!
//! This module owns the night labelling rules and their SQL functions, registered by
//! [`register`]; the astronomy (NOAA sunrise/sunset) lives in [`crate::solar`].
//!
//! Night D runs from the evening of D to the morning of D+1 and is **labelled by the evening's
//! date** D. Two window modes:
//!
//! * a fixed UTC window `[start_hour, end_hour)` (default 21:00–03:00 UTC, as in French
//!   multi-city studies; end exclusive): `night_date_utc(ts [, start_hour, end_hour])`;
//! * sunset to sunrise at the station, from its latitude/longitude:
//!   `night_date_sun(ts, lat, lon)`, with `sunrise(date, lat, lon)` / `sunset(date, lat, lon)`.
//!
//! Both `night_date_*` functions label an **instant**. For hourly data, where a row carries the
//! START of its hour, pass the hour's midpoint (`ts + INTERVAL '30 minutes'`) to ask "does this
//! hour belong to the night": passing the start would count the hour 20:00–21:00 in a night
//! beginning at sunset 20:58, and drop the hour in which sunrise falls in the morning.
//!
//! Conventions: NULL in any argument → NULL out; a timestamp of any unit or zone (or a string)
//! is accepted and cast to `TIMESTAMP(ms, UTC)`; outside the night → NULL; no sunset (polar day
//! or polar night) → no night → NULL. A latitude outside ±90° or a longitude outside ±180° gives
//! NULL (like an out-of-range humidity in `heat_indices`); window hours outside 0..=23, or a
//! start equal to the end, are an error.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, Date32Array, PrimitiveArray, TimestampMillisecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type, TimeUnit, TimestampMillisecondType};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::prelude::SessionContext;

use crate::solar::{MS_PER_DAY, sunrise_ms, sunset_ms};

/// Default start of the fixed UTC night window (21:00 UTC).
pub const DEFAULT_START_HOUR: u32 = 21;
/// Default end (exclusive) of the fixed UTC night window (03:00 UTC).
pub const DEFAULT_END_HOUR: u32 = 3;

const MS_PER_HOUR: i64 = 3_600_000;

fn utc_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// A fixed UTC night window `[start_hour, end_hour)`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcWindow {
    start_hour: u32,
    end_hour: u32,
}

impl Default for UtcWindow {
    fn default() -> Self {
        Self { start_hour: DEFAULT_START_HOUR, end_hour: DEFAULT_END_HOUR }
    }
}

impl UtcWindow {
    /// Hours must lie in 0..=23 and differ.
    pub fn new(start_hour: i64, end_hour: i64) -> std::result::Result<Self, String> {
        let hour = |h: i64, what: &str| {
            u32::try_from(h).ok().filter(|h| *h <= 23).ok_or_else(|| format!("{what} must be an hour in 0..23, got {h}"))
        };
        let (start_hour, end_hour) = (hour(start_hour, "start_hour")?, hour(end_hour, "end_hour")?);
        if start_hour == end_hour {
            return Err(format!("start_hour and end_hour must differ (both {start_hour})"));
        }
        Ok(Self { start_hour, end_hour })
    }

    /// The night label (days since 1970-01-01) of the instant `ts_ms` (Unix ms, UTC), or `None`
    /// outside the window. Crossing midnight (start > end, e.g. 21..3): hours ≥ start belong to
    /// that day's night, hours < end to the previous day's. Not crossing (start < end): a
    /// window starting after noon (e.g. 18..23) is an evening, labelled by its own day; one
    /// starting before noon (e.g. 0..6) is a morning, labelled by the evening before.
    pub fn night_of(self, ts_ms: i64) -> Option<i32> {
        let day = ts_ms.div_euclid(MS_PER_DAY);
        let hour = ts_ms.rem_euclid(MS_PER_DAY) / MS_PER_HOUR;
        let (start, end) = (i64::from(self.start_hour), i64::from(self.end_hour));
        let label = if start > end {
            if hour >= start {
                day
            } else if hour < end {
                day - 1
            } else {
                return None;
            }
        } else if (start..end).contains(&hour) {
            if start >= 12 { day } else { day - 1 }
        } else {
            return None;
        };
        i32::try_from(label).ok()
    }
}

/// The sunset-to-sunrise night labelled `day` (days since 1970-01-01) at (`lat`, `lon`):
/// `[sunset(day), sunrise(day + 1))` in Unix ms. `None` when either event does not happen
/// (polar day or night, and the first/last night around them) or the position is invalid.
pub fn sun_night_bounds_ms(day: i32, lat: f64, lon: f64) -> Option<(i64, i64)> {
    Some((sunset_ms(day, lat, lon)?, sunrise_ms(day.checked_add(1)?, lat, lon)?))
}

/// A few recently computed nights, so that a column of readings from one station over a few
/// days computes each sunset/sunrise once rather than once per row.
/// (night label, latitude bits, longitude bits) → that night's [sunset, sunrise) in Unix ms.
type NightCacheEntry = ((i32, u64, u64), Option<(i64, i64)>);

#[derive(Default)]
struct NightCache {
    entries: [Option<NightCacheEntry>; 8],
    next: usize,
}

impl NightCache {
    fn bounds(&mut self, day: i32, lat: f64, lon: f64) -> Option<(i64, i64)> {
        let key = (day, lat.to_bits(), lon.to_bits());
        if let Some((_, v)) = self.entries.iter().flatten().find(|(k, _)| *k == key) {
            return *v;
        }
        let v = sun_night_bounds_ms(day, lat, lon);
        self.entries[self.next] = Some((key, v));
        self.next = (self.next + 1) % self.entries.len();
        v
    }

    fn night_of(&mut self, ts_ms: i64, lat: f64, lon: f64) -> Option<i32> {
        let day = i32::try_from(ts_ms.div_euclid(MS_PER_DAY)).ok()?;
        // Nights are disjoint; for |lon| ≤ 180° the night holding `ts` is labelled by its UTC
        // date or the day before, and only near ±180° by the day after or two days before.
        [0, -1, 1, -2].into_iter().filter_map(|d| day.checked_add(d)).find(|&label| {
            self.bounds(label, lat, lon).is_some_and(|(start, end)| (start..end).contains(&ts_ms))
        })
    }
}

/// The night label (days since 1970-01-01) of the instant `ts_ms` (Unix ms, UTC) at
/// (`lat`, `lon`): D when `sunset(D) ≤ ts < sunrise(D + 1)`, else `None` (daytime, polar day or
/// night, invalid position).
pub fn sun_night_of(ts_ms: i64, lat: f64, lon: f64) -> Option<i32> {
    NightCache::default().night_of(ts_ms, lat, lon)
}

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Kind {
    NightDateUtc,
    NightDateSun,
    Sunrise,
    Sunset,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct NightUdf {
    kind: Kind,
    signature: Signature,
}

impl NightUdf {
    fn new(kind: Kind) -> Self {
        Self { kind, signature: Signature::user_defined(Volatility::Immutable) }
    }

    fn usage(&self) -> &'static str {
        match self.kind {
            Kind::NightDateUtc => "night_date_utc(ts [, start_hour, end_hour])",
            Kind::NightDateSun => "night_date_sun(ts, lat, lon)",
            Kind::Sunrise => "sunrise(date, lat, lon)",
            Kind::Sunset => "sunset(date, lat, lon)",
        }
    }
}

/// An argument after casting: an array, or one value broadcast to every row.
enum Col<T: ArrowPrimitiveType> {
    Array(PrimitiveArray<T>),
    Scalar(Option<T::Native>),
}

impl<T: ArrowPrimitiveType> Col<T> {
    fn new(v: &ColumnarValue, to: &DataType) -> Result<Self> {
        Ok(match v {
            ColumnarValue::Array(a) => {
                let a = if a.data_type() == to { Arc::clone(a) } else { cast(a, to)? };
                Col::Array(a.as_primitive::<T>().clone())
            }
            ColumnarValue::Scalar(s) => {
                let a = cast(&s.to_array_of_size(1)?, to)?;
                let a = a.as_primitive::<T>();
                Col::Scalar(a.is_valid(0).then(|| a.value(0)))
            }
        })
    }

    fn len(&self) -> Option<usize> {
        match self {
            Col::Array(a) => Some(a.len()),
            Col::Scalar(_) => None,
        }
    }

    fn get(&self, i: usize) -> Option<T::Native> {
        match self {
            Col::Array(a) => a.is_valid(i).then(|| a.value(i)),
            Col::Scalar(v) => *v,
        }
    }
}

/// Rows to compute: 1 when every argument is a scalar (the answer is a scalar), else the
/// common array length.
fn rows(name: &str, lens: &[Option<usize>]) -> Result<(usize, bool)> {
    let mut lens = lens.iter().flatten();
    let Some(&n) = lens.next() else { return Ok((1, true)) };
    if lens.any(|&m| m != n) {
        return exec_err!("{name}: argument arrays differ in length");
    }
    Ok((n, false))
}

fn output(out: ArrayRef, all_scalar: bool) -> Result<ColumnarValue> {
    Ok(if all_scalar { ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?) } else { ColumnarValue::Array(out) })
}

impl ScalarUDFImpl for NightUdf {
    fn name(&self) -> &str {
        match self.kind {
            Kind::NightDateUtc => "night_date_utc",
            Kind::NightDateSun => "night_date_sun",
            Kind::Sunrise => "sunrise",
            Kind::Sunset => "sunset",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let usage = self.usage();
        let instant = |t: &DataType| match t {
            DataType::Timestamp(_, _) | DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => Ok(utc_ms()),
            other => plan_err!("{usage}: ts must be a TIMESTAMP, got {other}"),
        };
        let date = |t: &DataType| match t {
            DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(_, _)
            | DataType::Utf8
            | DataType::Utf8View
            | DataType::LargeUtf8
            | DataType::Null => Ok(DataType::Date32),
            other => plan_err!("{usage}: date must be a DATE, got {other}"),
        };
        let hour = |t: &DataType| match t {
            t if t.is_integer() || *t == DataType::Null => Ok(DataType::Int64),
            other => plan_err!("{usage}: hours must be integers, got {other}"),
        };
        let degrees = |t: &DataType| match t {
            t if t.is_numeric() || *t == DataType::Null => Ok(DataType::Float64),
            other => plan_err!("{usage}: lat and lon must be numbers (degrees), got {other}"),
        };
        match (self.kind, arg_types) {
            (Kind::NightDateUtc, [ts]) => Ok(vec![instant(ts)?]),
            (Kind::NightDateUtc, [ts, start, end]) => Ok(vec![instant(ts)?, hour(start)?, hour(end)?]),
            (Kind::NightDateSun, [ts, lat, lon]) => Ok(vec![instant(ts)?, degrees(lat)?, degrees(lon)?]),
            (Kind::Sunrise | Kind::Sunset, [d, lat, lon]) => Ok(vec![date(d)?, degrees(lat)?, degrees(lon)?]),
            _ => plan_err!("{usage}: got {} arguments", arg_types.len()),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::NightDateUtc | Kind::NightDateSun => DataType::Date32,
            Kind::Sunrise | Kind::Sunset => utc_ms(),
        })
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.name();
        match (self.kind, args.args.as_slice()) {
            (Kind::NightDateUtc, [ts]) => {
                let ts = Col::<TimestampMillisecondType>::new(ts, &utc_ms())?;
                let (n, all_scalar) = rows(name, &[ts.len()])?;
                let window = UtcWindow::default();
                let out: Date32Array = (0..n).map(|i| window.night_of(ts.get(i)?)).collect();
                output(Arc::new(out), all_scalar)
            }
            (Kind::NightDateUtc, [ts, start, end]) => {
                let ts = Col::<TimestampMillisecondType>::new(ts, &utc_ms())?;
                let start = Col::<Int64Type>::new(start, &DataType::Int64)?;
                let end = Col::<Int64Type>::new(end, &DataType::Int64)?;
                let (n, all_scalar) = rows(name, &[ts.len(), start.len(), end.len()])?;
                let window = |s: i64, e: i64| match UtcWindow::new(s, e) {
                    Ok(w) => Ok(w),
                    Err(msg) => exec_err!("{name}: {msg}"),
                };
                // Constant hours are checked even when every timestamp is NULL.
                let constant = match (&start, &end) {
                    (Col::Scalar(Some(s)), Col::Scalar(Some(e))) => Some(window(*s, *e)?),
                    _ => None,
                };
                let out = (0..n)
                    .map(|i| {
                        let (Some(s), Some(e)) = (start.get(i), end.get(i)) else { return Ok(None) };
                        let w = match constant {
                            Some(w) => w,
                            None => window(s, e)?,
                        };
                        Ok(ts.get(i).and_then(|t| w.night_of(t)))
                    })
                    .collect::<Result<Date32Array>>()?;
                output(Arc::new(out), all_scalar)
            }
            (Kind::NightDateSun, [ts, lat, lon]) => {
                let ts = Col::<TimestampMillisecondType>::new(ts, &utc_ms())?;
                let lat = Col::<Float64Type>::new(lat, &DataType::Float64)?;
                let lon = Col::<Float64Type>::new(lon, &DataType::Float64)?;
                let (n, all_scalar) = rows(name, &[ts.len(), lat.len(), lon.len()])?;
                let mut cache = NightCache::default();
                let out: Date32Array = (0..n).map(|i| cache.night_of(ts.get(i)?, lat.get(i)?, lon.get(i)?)).collect();
                output(Arc::new(out), all_scalar)
            }
            (Kind::Sunrise | Kind::Sunset, [date, lat, lon]) => {
                let event = if self.kind == Kind::Sunrise { sunrise_ms } else { sunset_ms };
                let date = Col::<Date32Type>::new(date, &DataType::Date32)?;
                let lat = Col::<Float64Type>::new(lat, &DataType::Float64)?;
                let lon = Col::<Float64Type>::new(lon, &DataType::Float64)?;
                let (n, all_scalar) = rows(name, &[date.len(), lat.len(), lon.len()])?;
                let out: TimestampMillisecondArray =
                    (0..n).map(|i| event(date.get(i)?, lat.get(i)?, lon.get(i)?)).collect();
                output(Arc::new(out.with_timezone("UTC")), all_scalar)
            }
            (_, a) => exec_err!("{}: got {} arguments", self.usage(), a.len()),
        }
    }
}

/// The four SQL functions: `night_date_utc`, `night_date_sun`, `sunrise`, `sunset`.
pub fn udfs() -> [ScalarUDF; 4] {
    [Kind::NightDateUtc, Kind::NightDateSun, Kind::Sunrise, Kind::Sunset].map(|k| ScalarUDF::new_from_impl(NightUdf::new(k)))
}

/// Register `night_date_utc`, `night_date_sun`, `sunrise` and `sunset` with a session.
pub fn register(ctx: &SessionContext) {
    for udf in udfs() {
        ctx.register_udf(udf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solar::{date_from_days, days_since_epoch};
    use chrono::{DateTime, NaiveDate};
    use datafusion::arrow::datatypes::Field;
    use datafusion::arrow::util::pretty::pretty_format_batches;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    fn day(s: &str) -> i32 {
        days_since_epoch(s.parse::<NaiveDate>().unwrap())
    }

    fn label(days: Option<i32>) -> Option<String> {
        days.map(|d| date_from_days(d).unwrap().to_string())
    }

    #[test]
    fn fixed_window_across_midnight() {
        let w = UtcWindow::new(21, 3).unwrap();
        assert_eq!(w, UtcWindow::default());
        let night = |s: &str| label(w.night_of(ms(s)));
        assert_eq!(night("2025-07-01T22:30:00Z").as_deref(), Some("2025-07-01"));
        assert_eq!(night("2025-07-01T21:00:00Z").as_deref(), Some("2025-07-01"));
        assert_eq!(night("2025-07-02T00:00:00Z").as_deref(), Some("2025-07-01"));
        assert_eq!(night("2025-07-02T02:59:00Z").as_deref(), Some("2025-07-01"));
        assert_eq!(night("2025-07-02T02:59:59.999Z").as_deref(), Some("2025-07-01"));
        assert_eq!(night("2025-07-02T03:00:00Z"), None);
        assert_eq!(night("2025-07-01T20:59:00Z"), None);
        assert_eq!(night("2025-07-01T12:00:00Z"), None);
        // Across a month and a year end.
        assert_eq!(night("2025-12-31T23:00:00Z").as_deref(), Some("2025-12-31"));
        assert_eq!(night("2026-01-01T01:00:00Z").as_deref(), Some("2025-12-31"));
        assert_eq!(night("2025-08-01T01:00:00Z").as_deref(), Some("2025-07-31"));
        // Leap day, and before 1970 (negative milliseconds).
        assert_eq!(night("2024-03-01T02:00:00Z").as_deref(), Some("2024-02-29"));
        assert_eq!(night("1969-12-31T22:00:00Z").as_deref(), Some("1969-12-31"));
        assert_eq!(night("1970-01-01T01:00:00Z").as_deref(), Some("1969-12-31"));
    }

    #[test]
    fn fixed_window_not_crossing_midnight_is_labelled_by_the_evening_before() {
        let w = UtcWindow::new(0, 6).unwrap();
        let night = |s: &str| label(w.night_of(ms(s)));
        assert_eq!(night("2025-07-02T00:00:00Z").as_deref(), Some("2025-07-01"));
        assert_eq!(night("2025-07-02T05:59:00Z").as_deref(), Some("2025-07-01"));
        assert_eq!(night("2025-07-02T06:00:00Z"), None);
        assert_eq!(night("2025-07-01T23:00:00Z"), None);
        assert_eq!(night("2026-01-01T03:00:00Z").as_deref(), Some("2025-12-31"));
        // An evening window (starting after noon) is labelled by its own day.
        let evening = UtcWindow::new(18, 23).unwrap();
        assert_eq!(label(evening.night_of(ms("2025-07-01T19:00:00Z"))).as_deref(), Some("2025-07-01"));
        assert_eq!(evening.night_of(ms("2025-07-01T23:00:00Z")), None);
    }

    #[test]
    fn window_hours_are_checked() {
        assert!(UtcWindow::new(24, 3).unwrap_err().contains("start_hour"));
        assert!(UtcWindow::new(21, -1).unwrap_err().contains("end_hour"));
        assert!(UtcWindow::new(5, 5).unwrap_err().contains("differ"));
        assert!(UtcWindow::new(0, 23).is_ok());
    }

    #[test]
    fn sun_night_in_paris_at_the_june_solstice() {
        // Sunset 2025-06-21 ≈ 19:58 UTC, sunrise 2025-06-22 ≈ 03:47 UTC.
        let (lat, lon) = (48.8566, 2.3522);
        let night = |s: &str| label(sun_night_of(ms(s), lat, lon));
        assert_eq!(night("2025-06-21T19:50:00Z"), None);
        assert_eq!(night("2025-06-21T20:05:00Z").as_deref(), Some("2025-06-21"));
        assert_eq!(night("2025-06-21T23:59:00Z").as_deref(), Some("2025-06-21"));
        assert_eq!(night("2025-06-22T03:40:00Z").as_deref(), Some("2025-06-21"));
        assert_eq!(night("2025-06-22T03:55:00Z"), None);
        assert_eq!(night("2025-06-22T12:00:00Z"), None);
        // The bounds are the NOAA sunset and next sunrise.
        let (start, end) = sun_night_bounds_ms(day("2025-06-21"), lat, lon).unwrap();
        assert_eq!(Some(start), sunset_ms(day("2025-06-21"), lat, lon));
        assert_eq!(Some(end), sunrise_ms(day("2025-06-22"), lat, lon));
        assert_eq!(sun_night_of(start, lat, lon), Some(day("2025-06-21")));
        assert_eq!(sun_night_of(start - 1, lat, lon), None);
        assert_eq!(sun_night_of(end - 1, lat, lon), Some(day("2025-06-21")));
        assert_eq!(sun_night_of(end, lat, lon), None);
    }

    #[test]
    fn sun_night_across_the_year_end_in_toulouse() {
        let (lat, lon) = (43.6045, 1.4440);
        let night = |s: &str| label(sun_night_of(ms(s), lat, lon));
        // Sunset 2025-12-31 ≈ 16:26 UTC, sunrise 2026-01-01 ≈ 07:27 UTC.
        assert_eq!(night("2025-12-31T17:00:00Z").as_deref(), Some("2025-12-31"));
        assert_eq!(night("2026-01-01T07:00:00Z").as_deref(), Some("2025-12-31"));
        assert_eq!(night("2026-01-01T12:00:00Z"), None);
    }

    #[test]
    fn far_from_greenwich_every_instant_is_day_or_one_night() {
        // Hour by hour over a week at ±179.9°: nights are labelled by consecutive dates and the
        // labels never go backwards.
        for lon in [-179.9, 179.9, 139.7] {
            let mut last = None;
            let mut labels = std::collections::BTreeSet::new();
            for h in 0..24 * 7 {
                let t = ms("2025-03-01T00:00:00Z") + h * MS_PER_HOUR;
                if let Some(d) = sun_night_of(t, 35.0, lon) {
                    assert!(last.is_none_or(|l| d >= l), "lon {lon}: label went backwards at hour {h}");
                    last = Some(d);
                    labels.insert(d);
                }
            }
            assert!((6..=8).contains(&labels.len()), "lon {lon}: {labels:?}");
        }
    }

    #[test]
    fn polar_night_and_day_have_no_night() {
        for s in ["2025-12-21T00:00:00Z", "2025-12-21T12:00:00Z", "2025-12-21T22:00:00Z", "2025-06-21T23:00:00Z"] {
            assert_eq!(sun_night_of(ms(s), 78.0, 15.6), None, "{s}");
        }
        assert_eq!(sun_night_of(ms("2025-06-21T23:00:00Z"), 95.0, 0.0), None);
    }

    async fn sql(q: &str) -> String {
        let ctx = SessionContext::new();
        register(&ctx);
        let batches = ctx.sql(q).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    async fn sql_err(q: &str) -> String {
        let ctx = SessionContext::new();
        register(&ctx);
        match ctx.sql(q).await {
            Ok(df) => df.collect().await.unwrap_err().to_string(),
            Err(e) => e.to_string(),
        }
    }

    /// The single value of a one-row, one-column result, as displayed.
    async fn one(q: &str) -> String {
        let ctx = SessionContext::new();
        register(&ctx);
        let batches = ctx.sql(q).await.unwrap().collect().await.unwrap();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 1, "{q}");
        let b = batches.iter().find(|b| b.num_rows() == 1).unwrap();
        datafusion::arrow::util::display::array_value_to_string(b.column(0), 0).unwrap()
    }

    #[tokio::test]
    async fn sql_night_date_utc() {
        let q = |ts: &str, tail: &str| format!("SELECT night_date_utc(TIMESTAMP '{ts}'{tail})");
        assert_eq!(one(&q("2025-07-01T22:30:00Z", ", 21, 3")).await, "2025-07-01");
        assert_eq!(one(&q("2025-07-02T02:59:00Z", ", 21, 3")).await, "2025-07-01");
        assert_eq!(one(&q("2025-07-02T03:00:00Z", ", 21, 3")).await, "");
        assert_eq!(one(&q("2025-07-01T20:59:00Z", ", 21, 3")).await, "");
        assert_eq!(one(&q("2025-12-31T23:00:00Z", "")).await, "2025-12-31");
        assert_eq!(one(&q("2026-01-01T01:00:00Z", "")).await, "2025-12-31");
        assert_eq!(one(&q("2025-07-02T05:00:00Z", ", 0, 6")).await, "2025-07-01");
        assert_eq!(one(&q("2025-07-02T05:00:00Z", ", NULL, 6")).await, "");
        assert_eq!(one("SELECT night_date_utc(NULL, 21, 3)").await, "");
        // Other units and zones are cast; the instant is what counts (04:30 in Paris = 02:30Z).
        assert_eq!(
            one("SELECT night_date_utc(arrow_cast(TIMESTAMP '2025-07-02T04:30:00' AT TIME ZONE 'Europe/Paris', 'Timestamp(Second, Some(\"Europe/Paris\"))'), 21, 3)")
                .await,
            "2025-07-01"
        );
        assert_eq!(one("SELECT night_date_utc('2026-01-01T01:00:00Z', 21, 3)").await, "2025-12-31");
        // A column, with NULLs, a millisecond UTC column as in `readings`, and column hours.
        let out = sql("SELECT night_date_utc(ts, 21, 3) AS night FROM (VALUES \
            (CAST(TIMESTAMP '2025-07-01T22:30:00Z' AS TIMESTAMP(3)) AT TIME ZONE 'UTC'), \
            (NULL), \
            (CAST(TIMESTAMP '2025-07-01T12:00:00Z' AS TIMESTAMP(3)) AT TIME ZONE 'UTC')) AS v(ts)")
        .await;
        assert_eq!(out.lines().filter(|l| l.contains("2025-07-01")).count(), 1, "{out}");
        let out = sql("SELECT night_date_utc(TIMESTAMP '2025-07-02T05:00:00Z', s, e) AS night FROM (VALUES (21, 3), (0, 6), (NULL, 6)) AS v(s, e) ORDER BY s")
            .await;
        assert_eq!(out.lines().filter(|l| l.contains("2025-07-01")).count(), 1, "{out}");
    }

    #[tokio::test]
    async fn sql_night_date_utc_errors() {
        let err = sql_err("SELECT night_date_utc(TIMESTAMP '2025-07-01T22:30:00Z', 24, 3)").await;
        assert!(err.contains("start_hour must be an hour in 0..23"), "{err}");
        let err = sql_err("SELECT night_date_utc(TIMESTAMP '2025-07-01T22:30:00Z', 4, 4)").await;
        assert!(err.contains("must differ"), "{err}");
        let err = sql_err("SELECT night_date_utc(TIMESTAMP '2025-07-01T22:30:00Z', e, 3) FROM (VALUES (5), (-2)) AS v(e)").await;
        assert!(err.contains("got -2"), "{err}");
        let err = sql_err("SELECT night_date_utc(TIMESTAMP '2025-07-01T22:30:00Z', 21)").await;
        assert!(err.contains("night_date_utc(ts [, start_hour, end_hour])"), "{err}");
        let err = sql_err("SELECT night_date_utc(TIMESTAMP '2025-07-01T22:30:00Z', 21.5, 3)").await;
        assert!(err.contains("hours must be integers"), "{err}");
    }

    #[tokio::test]
    async fn sql_night_date_sun_sunrise_and_sunset() {
        let paris = "48.8566, 2.3522";
        assert_eq!(one(&format!("SELECT night_date_sun(TIMESTAMP '2025-06-21T22:00:00Z', {paris})")).await, "2025-06-21");
        assert_eq!(one(&format!("SELECT night_date_sun(TIMESTAMP '2025-06-22T03:00:00Z', {paris})")).await, "2025-06-21");
        assert_eq!(one(&format!("SELECT night_date_sun(TIMESTAMP '2025-06-22T12:00:00Z', {paris})")).await, "");
        assert_eq!(one("SELECT night_date_sun(TIMESTAMP '2025-12-21T22:00:00Z', 78, 15)").await, "");
        assert_eq!(one("SELECT night_date_sun(TIMESTAMP '2025-12-21T22:00:00Z', NULL, 15)").await, "");
        let rise = one(&format!("SELECT sunrise(DATE '2025-06-21', {paris})")).await;
        assert!(rise.starts_with("2025-06-21T03:4"), "{rise}");
        let set = one(&format!("SELECT sunset(DATE '2025-06-21', {paris})")).await;
        assert!(set.starts_with("2025-06-21T19:5") || set.starts_with("2025-06-21T20:0"), "{set}");
        assert_eq!(one("SELECT sunset(DATE '2025-12-21', 78.0, 15.0)").await, "");
        assert_eq!(one("SELECT sunrise(NULL, 45.0, 1.0)").await, "");
        // Types: DATE for the labels, TIMESTAMP(ms, UTC) for the events.
        let ctx = SessionContext::new();
        register(&ctx);
        let df = ctx
            .sql("SELECT night_date_sun(TIMESTAMP '2025-06-21T22:00:00Z', 48.8, 2.3) AS n, sunrise(DATE '2025-06-21', 48.8, 2) AS r")
            .await
            .unwrap();
        assert_eq!(df.schema().field(0).data_type(), &DataType::Date32);
        assert_eq!(df.schema().field(1).data_type(), &utc_ms());
    }

    #[tokio::test]
    async fn sql_hourly_buckets_by_their_midpoint() {
        // Hourly buckets from noon on 21 June to noon on 22 June in Paris, labelled by their
        // midpoint: 20:00 … 03:00 starts, i.e. 8 hours (sunset 19:58, sunrise 03:47).
        let q = "SELECT count(*) AS hours, min(ts) AS first, max(ts) AS last FROM ( \
            SELECT unnest(generate_series(TIMESTAMP '2025-06-21T12:00:00', TIMESTAMP '2025-06-22T11:00:00', INTERVAL '1 hour')) AS ts) h \
            WHERE night_date_sun(ts + INTERVAL '30 minutes', 48.8566, 2.3522) = DATE '2025-06-21'";
        let out = sql(q).await;
        assert!(out.contains("| 8 "), "{out}");
        assert!(out.contains("2025-06-21T20:00:00") && out.contains("2025-06-22T03:00:00"), "{out}");
        // Per-row evaluation over a column of stations (array lat/lon, cache keyed by position).
        let q = "SELECT night_date_sun(TIMESTAMP '2025-06-21T20:10:00Z', lat, lon) AS n FROM (VALUES \
            (48.8566, 2.3522), (43.6045, 1.4440), (78.0, 15.0), (NULL, 1.0)) AS v(lat, lon)";
        let out = sql(q).await;
        // Paris has set (19:58), Toulouse (19:39 UTC) too; Svalbard: midnight sun.
        assert_eq!(out.lines().filter(|l| l.contains("2025-06-21")).count(), 2, "{out}");
    }

    #[test]
    fn vectorised_invoke_with_a_scalar_broadcast() {
        let udf = ScalarUDF::new_from_impl(NightUdf::new(Kind::NightDateSun));
        let ts: ArrayRef = Arc::new(
            TimestampMillisecondArray::from(vec![Some(ms("2025-06-21T22:00:00Z")), None, Some(ms("2025-06-21T12:00:00Z"))])
                .with_timezone("UTC"),
        );
        let field = |n: &str, t: DataType| Arc::new(Field::new(n, t, true));
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![
                    ColumnarValue::Array(ts),
                    ColumnarValue::Scalar(ScalarValue::Float64(Some(48.8566))),
                    ColumnarValue::Scalar(ScalarValue::Float64(Some(2.3522))),
                ],
                arg_fields: vec![field("ts", utc_ms()), field("lat", DataType::Float64), field("lon", DataType::Float64)],
                number_rows: 3,
                return_field: field("out", DataType::Date32),
                config_options: Arc::new(Default::default()),
            })
            .unwrap();
        let ColumnarValue::Array(out) = out else { panic!("expected an array") };
        let out = out.as_primitive::<Date32Type>();
        assert_eq!(out.len(), 3);
        assert_eq!(out.value(0), day("2025-06-21"));
        assert!(out.is_null(1));
        assert!(out.is_null(2));
    }
}
